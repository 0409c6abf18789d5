/* Shared by every staff page: JSON calls with the CSRF token, sign-out, the status toast.
   Every piece of text goes in with textContent, never as HTML. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function api(method, url, body) {
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      init.headers["X-CSRF-Token"] = csrf;
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    return fetch(url, init).then(function (resp) {
      var signingIn = method === "POST" && url === "/api/v1/staff/session";  // a 401 there is a wrong password
      if (resp.status === 401 && !signingIn) {
        window.location.assign("/staff/login?expired=1");
        return Promise.reject(new Error("Please sign in again."));
      }
      if (resp.status === 204) { return {}; }
      return resp.json().then(function (data) {
        if (!resp.ok) {
          var message = data && data.error ? data.error.message : "That did not work.";
          var err = new Error(message);
          err.code = data && data.error ? data.error.code : "error";
          return Promise.reject(err);
        }
        return data;
      });
    });
  }

  function toast(text) {
    var box = document.getElementById("toast");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
  }

  function showError(el, err) {
    if (!el) { toast(err.message); return; }
    el.textContent = err.message;
    el.hidden = false;
  }

  var signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", function () {
      api("DELETE", "/api/v1/staff/session").then(function () {
        window.location.assign("/staff/login");
      }, function (err) { toast(err.message); });
    });
  }

  window.micareStaff = { api: api, toast: toast, showError: showError };
})();
