// The invitation page: the single-use token travels in the URL fragment, which browsers never
// send to a server; it is read here, posted once, and wiped from the address bar and history.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const match = /(?:^#|&)invitation=([A-Za-z0-9_-]{10,200})(?:&|$)/.exec(window.location.hash);
  if (!match) return;
  const token = match[1];
  history.replaceState(null, "", window.location.pathname + window.location.search);

  $("welcome").hidden = true;
  $("accept").hidden = false;
  $("password").focus();

  $("accept-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("accept-error");
    const password = $("password").value;
    error.textContent = "";
    if (password.length < 12) {
      error.textContent = "The password needs at least 12 characters.";
      $("password").focus();
      return;
    }
    if (password !== $("password2").value) {
      error.textContent = "The two passwords are not the same.";
      $("password2").focus();
      return;
    }
    if (!$("terms").checked) {
      error.textContent = "Accept the terms of use to continue.";
      $("terms").focus();
      return;
    }
    $("accept-submit").disabled = true;
    let response;
    try {
      response = await fetch("/api/v1/invitations/" + encodeURIComponent(token) + "/accept", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ password, accept_terms: true }),
      });
    } catch (e) {
      $("accept-submit").disabled = false;
      error.textContent = "Cannot reach the clinic's server. Check your connection and try again.";
      return;
    }
    $("accept-submit").disabled = false;
    if (response.ok) {
      $("password").value = "";
      $("password2").value = "";
      $("accept").hidden = true;
      $("accepted").hidden = false;
      $("accepted-title").focus();
      return;
    }
    let message = "This invitation link is not valid any more. Ask your clinic for a new one.";
    try {
      const data = await response.json();
      if (data && data.error && typeof data.error.message === "string") message = data.error.message;
    } catch (e) { /* keep the general message */ }
    error.textContent = message;
  });
})();
