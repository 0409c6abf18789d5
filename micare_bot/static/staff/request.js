(function () {
  "use strict";
  var S = window.micareStaff;
  var root = document.querySelector("[data-request-id]");
  if (!root) { return; }
  var id = root.getAttribute("data-request-id");
  var base = "/api/v1/staff/requests/" + encodeURIComponent(id);

  function reload(message) {
    if (message) { try { sessionStorage.setItem("staff-toast", message); } catch (e) { /* private mode */ } }
    window.location.reload();
  }
  try {
    var pending = sessionStorage.getItem("staff-toast");
    if (pending) { sessionStorage.removeItem("staff-toast"); S.toast(pending); }
  } catch (e) { /* private mode */ }

  var labels = { claim: "You claimed this request.", release: "Released to the team.", done: "Marked done." };
  Array.prototype.forEach.call(document.querySelectorAll("[data-action]"), function (button) {
    button.addEventListener("click", function () {
      var action = button.getAttribute("data-action");
      button.disabled = true;
      S.api("POST", base + "/" + action, {}).then(function () { reload(labels[action]); },
        function (err) { button.disabled = false; S.toast(err.message); });
    });
  });

  var transcriptButton = document.getElementById("show-transcript");
  transcriptButton.addEventListener("click", function () {
    transcriptButton.disabled = true;
    S.api("GET", base + "/transcript").then(function (data) {
      var list = document.getElementById("transcript-list");
      list.textContent = "";
      data.transcript.forEach(function (entry) {
        var li = document.createElement("li");
        li.className = "t-" + entry.from;
        var who = document.createElement("span");
        who.className = "who";
        who.textContent = entry.from === "patient" ? "Patient: " : "Bot: ";
        li.appendChild(who);
        li.appendChild(document.createTextNode(entry.text));
        list.appendChild(li);
      });
      var section = document.getElementById("transcript");
      section.hidden = false;
      transcriptButton.hidden = true;
      document.getElementById("transcript-title").focus();
    }, function (err) { transcriptButton.disabled = false; S.toast(err.message); });
  });

  var form = document.getElementById("reply-form");
  if (form) {
    var text = document.getElementById("reply-text");
    var canned = document.getElementById("canned");
    var error = document.getElementById("reply-error");
    // one id per reply being written: a double click or a retry after a lost answer sends it once
    var actionId = "r" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    canned.addEventListener("change", function () {
      if (!canned.value) { return; }
      S.api("GET", base + "/canned?id=" + encodeURIComponent(canned.value)).then(function (data) {
        text.value = data.text;
        text.focus();
      }, function (err) { S.showError(error, err); });
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      var body = { text: text.value, client_action_id: actionId, close: document.getElementById("reply-close").checked,
                   asked_fields: Array.prototype.map.call(form.querySelectorAll('input[name="asked_fields"]:checked'),
                                                          function (box) { return box.value; }) };
      if (canned.value) { body.canned = canned.value; }
      if (!text.value.trim()) { S.showError(error, new Error("Write a reply or choose a canned reply.")); text.focus(); return; }
      var submit = form.querySelector('button[type="submit"]');
      submit.disabled = true;
      S.api("POST", base + "/replies", body).then(function () { reload("Reply sent. The patient gets an e-mail notice."); },
        function (err) { submit.disabled = false; S.showError(error, err); });
    });
  }

  var reroute = document.getElementById("reroute-form");
  if (reroute) {
    reroute.addEventListener("submit", function (event) {
      event.preventDefault();
      S.api("POST", base + "/reroute", { team: reroute.elements.team.value }).then(function () {
        window.location.assign("/staff/queue");
      }, function (err) { S.toast(err.message); });
    });
  }
  var relabel = document.getElementById("relabel-form");
  if (relabel) {
    relabel.addEventListener("submit", function (event) {
      event.preventDefault();
      S.api("POST", base + "/relabel", { intent: relabel.elements.intent.value }).then(function () {
        reload("Request type corrected.");
      }, function (err) { S.toast(err.message); });
    });
  }
})();
