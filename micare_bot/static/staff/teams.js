(function () {
  "use strict";
  var S = window.micareStaff;
  Array.prototype.forEach.call(document.querySelectorAll(".cover-form"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var hours = parseInt(form.elements.hours.value, 10);
      if (!(hours > 0)) { S.toast("Enter a number of hours."); return; }
      var ends = new Date(Date.now() + hours * 3600 * 1000).toISOString();
      S.api("POST", "/api/v1/staff/teams/" + encodeURIComponent(form.getAttribute("data-team")) + "/cover",
            { staff_id: form.elements.staff_id.value, ends_at: ends }).then(function () {
        window.location.reload();
      }, function (err) { S.toast(err.message); });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-end-cover]"), function (button) {
    button.addEventListener("click", function () {
      S.api("DELETE", "/api/v1/staff/cover/" + encodeURIComponent(button.getAttribute("data-end-cover"))).then(
        function () { window.location.reload(); }, function (err) { S.toast(err.message); });
    });
  });
})();
