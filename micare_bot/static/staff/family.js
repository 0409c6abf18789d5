/* Family links: accept or decline a parent's request, end a live link with a reason.
   Loaded on the queue page and the Family links page; text goes in with textContent only. */
(function () {
  "use strict";
  var S = window.micareStaff;
  if (!S) { return; }
  var WORDS = { accept: "Accepted", decline: "Declined" };
  Array.prototype.forEach.call(document.querySelectorAll("[data-decision]"), function (button) {
    button.addEventListener("click", function () {
      var decision = button.getAttribute("data-decision");
      var row = button.closest("tr");
      Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { b.disabled = true; });
      S.api("POST", "/api/v1/staff/family/links/" + encodeURIComponent(button.getAttribute("data-link")) + "/" +
            decision, {}).then(function (link) {
        var cell = button.closest("td");
        cell.textContent = WORDS[decision] || link.status;
        S.toast((WORDS[decision] || "Done") + ": the parent gets an inbox note and an e-mail.");
      }, function (err) {
        Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { b.disabled = false; });
        S.toast(err.message);
      });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("form.end-link"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var note = form.elements.note.value.trim();
      var body = { reason: form.elements.reason.value };
      if (note) { body.note = note; }
      S.api("POST", "/api/v1/staff/family/links/" + encodeURIComponent(form.getAttribute("data-link")) + "/end",
            body).then(function () {
        var item = form.closest("li");
        form.remove();
        item.appendChild(document.createTextNode("Link ended."));
        S.toast("Link ended: the parent can no longer act for this child.");
      }, function (err) { S.toast(err.message); });
    });
  });
})();
