(function () {
  "use strict";
  var S = window.micareStaff;
  var root = document.querySelector("[data-patient-id]");
  if (!root) { return; }
  var url = "/api/v1/staff/patients/" + encodeURIComponent(root.getAttribute("data-patient-id")) + "/messages";
  function newId() { return "m" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  function wire(form, errorId, build) {
    var error = document.getElementById(errorId);
    var actionId = newId();  // a double click sends once
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      var body;
      try { body = build(); } catch (err) { S.showError(error, err); return; }
      body.client_action_id = actionId;
      var about = form.elements.dependent_id;
      if (about && about.value) { body.dependent_id = about.value; }
      var submit = form.querySelector('button[type="submit"]');
      submit.disabled = true;
      S.api("POST", url, body).then(function () { window.location.reload(); },
        function (err) { submit.disabled = false; S.showError(error, err); });
    });
  }

  var message = document.getElementById("message-form");
  wire(message, "message-error", function () {
    var text = message.elements.text.value;
    if (!text.trim()) { throw new Error("Write the message first."); }
    return { kind: "message", text: text };
  });
  var reminder = document.getElementById("reminder-form");
  wire(reminder, "reminder-error", function () {
    var when = new Date(reminder.elements.appointment_at.value);
    if (isNaN(when)) { throw new Error("Enter the appointment's date and time."); }
    var body = { kind: "reminder", appointment_at: when.toISOString() };
    var lead = parseInt(reminder.elements.lead.value, 10);
    if (lead > 0) {
      var send = new Date(when.getTime() - lead * 3600 * 1000);
      if (send > new Date()) { body.deliver_at = send.toISOString(); }
    }
    return body;
  });
})();
