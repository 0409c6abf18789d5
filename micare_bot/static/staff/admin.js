(function () {
  "use strict";
  var S = window.micareStaff;
  var form = document.getElementById("add-staff");
  var error = document.getElementById("add-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var teams = Array.prototype.map.call(form.querySelectorAll('input[name="teams"]:checked'), function (b) { return b.value; });
    S.api("POST", "/api/v1/staff/members", { name: form.elements.name.value, email: form.elements.email.value,
                                             role: form.elements.role.value, teams: teams }).then(function () {
      window.location.reload();
    }, function (err) { S.showError(error, err); });
  });
})();
