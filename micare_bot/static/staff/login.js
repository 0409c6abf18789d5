(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var error = document.getElementById("login-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var email = form.elements.email.value.trim();
    var password = form.elements.password.value;
    if (!email || !password) {
      window.micareStaff.showError(error, new Error("Enter your e-mail address and password."));
      return;
    }
    window.micareStaff.api("POST", "/api/v1/staff/session", { email: email, password: password }).then(function () {
      window.location.assign("/staff/queue");
    }, function (err) {
      window.micareStaff.showError(error, err);
      form.elements.password.value = "";
      form.elements.password.focus();
    });
  });
})();
