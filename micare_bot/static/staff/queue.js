(function () {
  "use strict";
  var next = document.getElementById("claim-next");
  if (next) {
    next.addEventListener("click", function () {
      window.micareStaff.api("POST", "/api/v1/staff/requests/claim-next", {}).then(function (item) {
        window.location.assign("/staff/requests/" + encodeURIComponent(item.id));
      }, function (err) { window.micareStaff.toast(err.message); });
    });
  }
})();
