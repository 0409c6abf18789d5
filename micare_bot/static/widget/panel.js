// The chat panel: runs inside the iframe the loader opens (or as a page of its own).
// Every piece of text goes into the page with textContent, never as HTML.
"use strict";

(() => {
  const API = "/api/v1";
  const CLINIC = document.body.dataset.clinic || "";
  const KEY_CONV = "micare.conversation." + CLINIC; // localStorage: the open conversation's id (no PHI)
  const KEY_PENDING = "micare.pending." + CLINIC; // sessionStorage: a typed message not yet answered
  const SEND_TIMEOUT_MS = 8000; // no answer on the WebSocket by then: close it and use HTTP
  const MAX_BACKOFF_MS = 15000;
  const CLOSED = new Set(["filed", "redirected", "cancelled"]);
  const EMBEDDED = window.parent !== window;

  const INTENTS = {
    appointment: "Appointment",
    refill: "Medication refill",
    results: "Test results",
    immunization_copy: "Immunization record",
    symptom: "Symptom question",
    other: "Message to the care team",
  };
  const STATUS = { open: "Waiting for the care team", claimed: "A care team member is on it", closed: "Closed" };

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  const state = {
    clinic: null, // public clinic config: name and numbers
    csrf: null,
    cid: null,
    result: null, // the last turn result
    pending: null, // {cid, text, id}
    inflight: false,
    attempt: 0,
    ws: null,
    wsOpen: false,
    wsFailures: 0,
    wsTimer: null,
    sendTimer: null,
    retryTimer: null,
    retryDelay: 1000,
    screen: "loading",
    wantFocus: false,
    resync: false, // redraw the log from the server after the answer to a message sent before a reload
  };

  // --- storage (may be unavailable, e.g. blocked in a third-party frame) ------------------

  const store = {
    get(area, key) {
      try { return window[area].getItem(key); } catch (e) { return null; }
    },
    set(area, key, value) {
      try {
        if (value === null) window[area].removeItem(key);
        else window[area].setItem(key, value);
      } catch (e) { /* keep going without persistence */ }
    },
  };

  function saveConversation(cid) {
    state.cid = cid;
    store.set("localStorage", KEY_CONV, cid);
  }

  function savePending(pending) {
    state.pending = pending;
    store.set("sessionStorage", KEY_PENDING, pending ? JSON.stringify(pending) : null);
  }

  function loadPending() {
    const raw = store.get("sessionStorage", KEY_PENDING);
    if (!raw) return null;
    try {
      const p = JSON.parse(raw);
      if (p && typeof p.text === "string" && typeof p.id === "string" && typeof p.cid === "string") return p;
    } catch (e) { /* ignore */ }
    return null;
  }

  function newTurnId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- HTTP ------------------------------------------------------------------------------

  class NetworkError extends Error {}

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.csrf && method !== "GET") headers["X-CSRF-Token"] = state.csrf;
    let response;
    try {
      response = await fetch(API + path, {
        method, headers, credentials: "same-origin", cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new NetworkError("network");
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, data, retryAfter: response.headers.get("Retry-After") };
  }

  const errorText = (r, fallback) =>
    (r.data && r.data.error && typeof r.data.error.message === "string") ? r.data.error.message : fallback;

  // --- screens ---------------------------------------------------------------------------

  function show(name) {
    state.screen = name;
    for (const s of ["loading", "login", "chat", "redirect", "inbox"]) $("screen-" + s).hidden = s !== name;
    const signedIn = !!state.csrf;
    $("nav-inbox").hidden = !signedIn || name === "inbox" || name === "login";
    $("nav-chat").hidden = !signedIn || name !== "inbox";
    $("nav-logout").hidden = !signedIn || name === "login";
    $("inbox-back").hidden = !signedIn;
    if (state.wantFocus) window.setTimeout(focusCurrent, 0);
  }

  // the loader asked for focus (the patient opened the panel): give it to the screen's first control
  function focusCurrent() {
    if (!state.wantFocus || state.screen === "loading") return;
    state.wantFocus = false;
    if (state.screen === "login") $("login-email").focus();
    else if (state.screen === "redirect") $("redirect-title").focus();
    else if (state.screen === "inbox") $("inbox-title").focus();
    else focusComposer();
  }

  function setStatus(text) {
    $("status").textContent = text || "";
  }

  function focusComposer() {
    if (!$("composer").hidden) $("message").focus();
    else if (!$("closed-actions").hidden) $("new-request").focus();
  }

  // --- start-up and sessions ---------------------------------------------------------------

  async function boot() {
    wireEvents();
    try {
      const r = await fetch("/widget/clinics/" + encodeURIComponent(CLINIC), { credentials: "same-origin" });
      if (r.ok) state.clinic = await r.json();
    } catch (e) { /* the numbers have defaults below */ }
    if (state.clinic && state.clinic.name) $("clinic-name").textContent = state.clinic.name;
    state.pending = loadPending();
    await resume();
  }

  async function resume() {
    show("loading");
    let r;
    try {
      r = await api("GET", "/session");
    } catch (e) {
      setStatus("Cannot reach the clinic's server. Trying again…");
      window.setTimeout(resume, 3000);
      return;
    }
    setStatus("");
    if (r.status === 200 && r.data) {
      state.csrf = r.data.csrf_token;
      await enterChat();
    } else {
      showLogin("");
    }
  }

  function showLogin(note) {
    closeSocket();
    state.csrf = null;
    $("login-note").textContent = note || "Sign in to send a secure message to your care team.";
    $("login-error").textContent = "";
    $("login-password").value = "";
    show("login");
    if (note) $("login-email").focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    const err = $("login-error");
    if (!email || !password) {
      err.textContent = "Enter your e-mail address and password.";
      (email ? $("login-password") : $("login-email")).focus();
      return;
    }
    err.textContent = "";
    $("login-submit").disabled = true;
    let r;
    try {
      r = await api("POST", "/session", { email, password });
    } catch (e) {
      err.textContent = "Cannot reach the clinic's server. Check your connection and try again.";
      $("login-submit").disabled = false;
      return;
    }
    $("login-submit").disabled = false;
    if (r.status === 200 && r.data) {
      state.csrf = r.data.csrf_token;
      $("login-password").value = "";
      const check = await api("GET", "/session").catch(() => null);
      if (check && check.status === 401) {
        // the browser did not keep the session cookie: a third-party frame with cookies blocked
        cookiesBlocked();
        return;
      }
      await enterChat();
      focusComposer();
    } else {
      err.textContent = errorText(r, "Sign-in failed. Check your e-mail address and password.");
      $("login-password").focus();
    }
  }

  function cookiesBlocked() {
    state.csrf = null;
    show("login");
    const err = $("login-error");
    err.textContent = "Your browser does not allow signing in inside this frame. ";
    const a = el("a", null, "Open the secure chat in a new window");
    a.href = "/widget/panel?clinic=" + encodeURIComponent(CLINIC);
    a.target = "_blank";
    a.rel = "noopener";
    err.appendChild(a);
    a.focus();
  }

  async function onLogout() {
    try { await api("DELETE", "/session"); } catch (e) { /* the cookie ends anyway */ }
    saveConversation(null);
    savePending(null);
    clearChat();
    showLogin("You are signed out.");
  }

  function sessionEnded() {
    showLogin("Your session has ended. Sign in again to go on with your conversation.");
  }

  // --- the conversation ----------------------------------------------------------------------

  async function enterChat() {
    show("chat");
    const stored = store.get("localStorage", KEY_CONV);
    if (stored) {
      let r;
      try {
        r = await api("GET", "/conversations/" + encodeURIComponent(stored));
      } catch (e) {
        setStatus("Cannot reach the clinic's server. Trying again…");
        window.setTimeout(enterChat, 3000);
        return;
      }
      if (r.status === 401) { sessionEnded(); return; }
      if (r.status === 200 && r.data) {
        state.cid = stored;
        renderTranscript(r.data);
        if (state.pending && state.pending.cid === state.cid && !CLOSED.has(r.data.status)) {
          // it may have reached the server before the page went away: the answer to the same
          // client_turn_id is the first one, and the log is redrawn from the server's transcript
          addMessage("patient", state.pending.text, true);
          state.resync = true;
          deliver();
        } else if (state.pending) {
          savePending(null);
        }
        connect();
        return;
      }
      saveConversation(null); // gone or not ours any more
    }
    await startConversation();
  }

  async function startConversation() {
    let r;
    try {
      r = await api("POST", "/conversations", {});
    } catch (e) {
      setStatus("Cannot reach the clinic's server. Check your connection and try again.");
      return;
    }
    if (r.status === 401) { sessionEnded(); return; }
    if (r.status !== 201 || !r.data) {
      setStatus(errorText(r, "The chat could not start. Please try again."));
      return;
    }
    closeSocket();
    savePending(null);
    clearChat();
    saveConversation(r.data.conversation_id);
    show("chat");
    applyResult(r.data, true);
    connect();
  }

  function clearChat() {
    $("log").textContent = "";
    $("replies").textContent = "";
    $("replies").hidden = true;
    $("card").hidden = true;
    $("card").textContent = "";
    state.result = null;
    document.body.classList.remove("urgent");
  }

  function renderTranscript(t) {
    clearChat();
    show("chat");
    let trailing = [];
    for (const entry of t.transcript || []) {
      if (entry.from === "patient") {
        addMessage("patient", entry.text);
        trailing = [];
      } else {
        addMessage("bot", entry.text);
        trailing.push(entry);
      }
    }
    applyResult({
      conversation_id: t.conversation_id, status: t.status, intent: t.intent, triage: t.triage,
      awaiting: t.awaiting, fields: t.fields || {}, request_id: t.request_id,
      messages: trailing.map((m) => ({ text: m.text, quick_replies: m.quick_replies || [] })),
    }, false);
  }

  function addMessage(who, text, pending) {
    const li = el("li", "msg msg-" + who);
    li.appendChild(el("span", "visually-hidden", who === "patient" ? "You said:" : "Assistant:"));
    li.appendChild(el("p", "bubble", text));
    if (pending) {
      li.dataset.pending = "true";
      li.appendChild(el("span", "note", "Sending…"));
    }
    $("log").appendChild(li);
    const region = $("log-region");
    region.scrollTop = region.scrollHeight;
    return li;
  }

  function confirmPendingBubble() {
    const li = $("log").querySelector("li[data-pending]");
    if (!li) return;
    delete li.dataset.pending;
    const note = li.querySelector(".note");
    if (note) note.remove();
  }

  function dropPendingBubble() {
    const li = $("log").querySelector("li[data-pending]");
    if (li) li.remove();
  }

  // Show a turn result: the bot's messages (unless already in the log), then what comes next.
  function applyResult(result, addMessages) {
    state.result = result;
    const messages = result.messages || [];
    if (addMessages) for (const m of messages) addMessage("bot", m.text);
    const replies = $("replies");
    replies.textContent = "";
    replies.hidden = true;
    $("card").hidden = true;
    $("card").textContent = "";
    if (result.status === "redirected") {
      showRedirect(result);
      return;
    }
    const closed = CLOSED.has(result.status);
    $("composer").hidden = closed;
    $("closed-actions").hidden = !closed;
    if (result.status === "filed") showFiled(result);
    if (!closed) {
      const last = messages[messages.length - 1];
      const options = (last && last.quick_replies) || [];
      for (const option of options) {
        const b = el("button", "chip", option);
        b.type = "button";
        if (result.status === "confirming") {
          b.classList.add(option === "Confirm" ? "chip-confirm" : "chip-plain");
        }
        b.addEventListener("click", () => {
          send(option);
        });
        replies.appendChild(b);
      }
      replies.hidden = options.length === 0;
      replies.setAttribute("aria-label", result.status === "confirming" ? "Send this request?" : "Suggested answers");
      const lastBubble = $("log").lastElementChild;
      if (result.status === "confirming" && lastBubble && lastBubble.classList.contains("msg-bot")) {
        lastBubble.classList.add("summary");
      }
    }
    if (state.screen === "chat" || state.screen === "loading") show("chat");
    const region = $("log-region");
    region.scrollTop = region.scrollHeight;
  }

  function showFiled(result) {
    const card = $("card");
    card.textContent = "";
    card.appendChild(el("h3", null, "Request sent"));
    if (result.request_id) {
      const p = el("p", "reference");
      p.appendChild(el("span", null, "Reference: "));
      p.appendChild(el("strong", null, result.request_id));
      card.appendChild(p);
    }
    const expect = (result.messages || []).map((m) => m.text).find((t) => /Expect a reply/.test(t));
    if (expect) card.appendChild(el("p", null, expect));
    card.appendChild(el("p", "muted", "The care team's reply will appear in your inbox."));
    card.hidden = false;
  }

  const DEFAULT_NUMBERS = [
    { key: "emergency", label: "Emergency", number: "911", href: "tel:911", action: "Call 911" },
    { key: "crisis", label: "Veterans/Military Crisis Line", number: "988, then press 1", href: "tel:988", action: "Call 988, then press 1" },
    { key: "poison", label: "Poison Control", number: "1-800-222-1222", href: "tel:18002221222", action: "Call Poison Control, 1-800-222-1222" },
    { key: "nurse", label: "Nurse Advice Line", number: "1-800-874-2273, option 1", href: "tel:18008742273", action: "Call the Nurse Advice Line, 1-800-874-2273, option 1" },
  ];
  const PRIMARY = { emergency: "emergency", crisis: "crisis", poison: "poison", same_day: "nurse" };
  const HEADLINE = {
    emergency: "Call 911 now",
    crisis: "Please reach out now",
    poison: "Call Poison Control now",
    same_day: "You need care today",
  };

  function showRedirect(result) {
    closeSocket();
    const numbers = (state.clinic && state.clinic.numbers && state.clinic.numbers.length)
      ? state.clinic.numbers : DEFAULT_NUMBERS;
    const level = result.triage || "emergency";
    const primary = numbers.find((n) => n.key === (PRIMARY[level] || "emergency")) || numbers[0];
    $("redirect-title").textContent = HEADLINE[level] || "Get help now";
    $("redirect-text").textContent = (result.messages || []).map((m) => m.text).join("\n\n");
    const link = $("redirect-primary");
    link.href = primary.href;
    link.textContent = primary.action;
    const list = $("redirect-numbers");
    list.textContent = "";
    for (const n of numbers) {
      if (n === primary) continue;
      const li = el("li");
      const a = el("a", "call", n.action);
      a.href = n.href;
      li.appendChild(a);
      list.appendChild(li);
    }
    document.body.classList.add("urgent");
    show("redirect");
    $("redirect-title").focus();
  }

  // --- sending: WebSocket first, HTTP as the fallback, one client_turn_id per typed message ----

  function send(text) {
    text = (text || "").trim();
    if (!text) return;
    if (state.pending) {
      setStatus("Still sending your last message…");
      return;
    }
    if (text.length > 2000) {
      setStatus("Keep messages under 2000 characters.");
      return;
    }
    const hadFocusInReplies = $("replies").contains(document.activeElement);
    savePending({ cid: state.cid, text, id: newTurnId() });
    addMessage("patient", text, true);
    $("message").value = "";
    autosize();
    $("replies").hidden = true;
    $("replies").textContent = "";
    $("send").setAttribute("aria-disabled", "true");
    if (hadFocusInReplies) $("message").focus();
    deliver();
  }

  function deliver() {
    const p = state.pending;
    if (!p || state.inflight) return;
    window.clearTimeout(state.retryTimer);
    if (state.wsOpen && state.ws) {
      state.inflight = "ws";
      const attempt = ++state.attempt;
      try {
        state.ws.send(JSON.stringify({ text: p.text, client_turn_id: p.id }));
      } catch (e) {
        state.inflight = false;
        deliverHttp();
        return;
      }
      window.clearTimeout(state.sendTimer);
      state.sendTimer = window.setTimeout(() => {
        if (state.inflight === "ws" && state.attempt === attempt) {
          // no answer: this socket may be half dead; drop it and ask over HTTP with the same id
          closeSocket();
          state.inflight = false;
          deliverHttp();
          scheduleReconnect();
        }
      }, SEND_TIMEOUT_MS);
    } else {
      deliverHttp();
    }
  }

  async function deliverHttp() {
    const p = state.pending;
    if (!p || state.inflight) return;
    state.inflight = "http";
    const attempt = ++state.attempt;
    let r;
    try {
      r = await api("POST", "/conversations/" + encodeURIComponent(p.cid) + "/turns",
        { text: p.text, client_turn_id: p.id });
    } catch (e) {
      if (state.attempt !== attempt) return;
      state.inflight = false;
      setStatus("Connection lost. Your message will be sent when the connection is back.");
      retryLater();
      return;
    }
    if (state.attempt !== attempt || !state.pending || state.pending.id !== p.id) return;
    state.inflight = false;
    if (r.status === 200 && r.data) {
      onResult(r.data);
    } else {
      onTurnError(r.status, r.data && r.data.error ? r.data.error.code : "", errorText(r, ""), r.retryAfter);
    }
  }

  function retryLater(seconds) {
    window.clearTimeout(state.retryTimer);
    const delay = seconds ? seconds * 1000 : state.retryDelay;
    state.retryDelay = Math.min(state.retryDelay * 2, MAX_BACKOFF_MS);
    state.retryTimer = window.setTimeout(deliver, delay);
  }

  function onResult(result) {
    if (!state.pending || result.conversation_id !== state.pending.cid) return; // an answer already shown
    window.clearTimeout(state.sendTimer);
    window.clearTimeout(state.retryTimer);
    state.inflight = false;
    state.retryDelay = 1000;
    savePending(null);
    confirmPendingBubble();
    $("send").removeAttribute("aria-disabled");
    setStatus("");
    if (state.resync) {
      state.resync = false;
      resyncTranscript(result);
    } else {
      applyResult(result, true);
    }
    if (CLOSED.has(result.status)) closeSocket();
  }

  async function resyncTranscript(result) {
    let r = null;
    try { r = await api("GET", "/conversations/" + encodeURIComponent(result.conversation_id)); } catch (e) { r = null; }
    if (r && r.status === 200 && r.data) {
      renderTranscript(r.data);
    } else {
      applyResult(result, true);
    }
  }

  async function onTurnError(status, code, message, retryAfter) {
    if (status === 401 || code === "unauthenticated") {
      sessionEnded(); // the message stays pending and goes out after sign-in
      return;
    }
    if (status === 409 || status === 404 || status === 403) {
      // the conversation ended or is gone: put the words back and show where things stand
      const text = state.pending ? state.pending.text : "";
      savePending(null);
      dropPendingBubble();
      $("send").removeAttribute("aria-disabled");
      setStatus(message || "This conversation has ended.");
      if (status === 409) {
        const r = await api("GET", "/conversations/" + encodeURIComponent(state.cid)).catch(() => null);
        if (r && r.status === 200) renderTranscript(r.data);
      } else {
        saveConversation(null);
        await startConversation();
      }
      $("message").value = text;
      return;
    }
    if (status === 422 || status === 400 || status === 413) {
      const text = state.pending ? state.pending.text : "";
      savePending(null);
      dropPendingBubble();
      $("send").removeAttribute("aria-disabled");
      $("message").value = text;
      setStatus(message || "That message could not be sent.");
      $("message").focus();
      return;
    }
    // 429, 5xx: try again later with the same id
    setStatus("The server is busy. Your message will be sent shortly.");
    retryLater(retryAfter ? Number(retryAfter) : 0);
  }

  function connect() {
    if (!state.cid || !state.csrf || state.ws) return;
    if (state.result && CLOSED.has(state.result.status)) return;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + API +
      "/conversations/" + encodeURIComponent(state.cid) + "/ws";
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      state.wsOpen = true;
      state.wsFailures = 0;
      setStatus("");
      if (state.pending && !state.inflight) deliver();
    };
    ws.onmessage = (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data && data.error) {
        if (!state.pending || state.inflight !== "ws") return;
        state.inflight = false;
        window.clearTimeout(state.sendTimer);
        const code = data.error.code;
        const status = code === "unauthenticated" ? 401 : code === "conversation_closed" ? 409
          : code === "not_found" ? 404 : code === "internal" ? 500 : 422;
        onTurnError(status, code, data.error.message, null);
        return;
      }
      onResult(data);
    };
    ws.onclose = async (event) => {
      if (state.ws !== ws) return; // replaced or closed on purpose
      state.ws = null;
      state.wsOpen = false;
      window.clearTimeout(state.sendTimer);
      if (event.code === 4401) { sessionEnded(); return; }
      if (state.inflight === "ws") {
        state.inflight = false;
        deliverHttp(); // the same client_turn_id: answered once whichever way it went through
      }
      if (!opened) {
        state.wsFailures += 1;
        if (state.wsFailures >= 2) {
          // the handshake keeps failing: maybe the session ended
          const r = await api("GET", "/session").catch(() => null);
          if (r && r.status === 401) { sessionEnded(); return; }
        }
      }
      setStatus(state.pending ? "Reconnecting…" : "");
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    window.clearTimeout(state.wsTimer);
    if (!state.csrf || state.screen === "login") return;
    if (state.result && CLOSED.has(state.result.status)) return;
    const base = Math.min(500 * 2 ** Math.min(state.wsFailures, 5), MAX_BACKOFF_MS);
    const delay = base / 2 + Math.random() * base / 2;
    state.wsTimer = window.setTimeout(connect, delay);
  }

  function closeSocket() {
    window.clearTimeout(state.wsTimer);
    window.clearTimeout(state.sendTimer);
    const ws = state.ws;
    state.ws = null;
    state.wsOpen = false;
    if (state.inflight === "ws") state.inflight = false;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try { ws.close(1000); } catch (e) { /* already closed */ }
    }
  }

  // --- inbox ---------------------------------------------------------------------------------

  // times as the clinic tells them in the chat: in the clinic's time zone, with its name
  const fmt = (iso) => {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const options = { month: "short", day: "numeric", year: "numeric", hour: "numeric", minute: "2-digit",
      timeZoneName: "short" };
    if (state.clinic && state.clinic.timezone) options.timeZone = state.clinic.timezone;
    try { return d.toLocaleString("en-US", options); } catch (e) { return d.toLocaleString(); }
  };
  const label = (name) => name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ");

  async function openInbox() {
    let r;
    try {
      r = await api("GET", "/messages");
    } catch (e) {
      setStatus("Cannot reach the clinic's server. Try again in a moment.");
      return;
    }
    if (r.status === 401) { sessionEnded(); return; }
    if (r.status !== 200 || !r.data) { setStatus(errorText(r, "The inbox could not be loaded.")); return; }
    setStatus("");
    const list = $("inbox-list");
    list.textContent = "";
    const items = r.data.messages || [];
    const notices = r.data.notices || [];  // messages and appointment reminders the care team started
    $("inbox-empty").hidden = items.length + notices.length > 0;
    for (const notice of notices) {
      const li = el("li", "inbox-item notice");
      li.appendChild(el("h3", null, notice.kind === "reminder" ? "Appointment reminder" : "Message from your care team"));
      li.appendChild(el("p", "muted small", (notice.care_team || "Care team") + " · " + fmt(notice.at)));
      li.appendChild(el("p", "bubble", notice.text));
      list.appendChild(li);
    }
    for (const item of items) {
      const li = el("li", "inbox-item");
      const head = el("h3", null, (INTENTS[item.intent] || label(item.intent || "request")) + " · " + item.request_id);
      li.appendChild(head);
      const meta = el("p", "muted small",
        (STATUS[item.status] || label(item.status || "")) + " · sent " + fmt(item.filed_at) +
        (item.status === "open" ? " · reply expected by " + fmt(item.due_at) : "") +
        (item.care_team ? " · " + item.care_team : ""));
      li.appendChild(meta);
      const fields = item.fields || {};
      const names = Object.keys(fields);
      if (names.length) {
        const dl = el("dl", "fields");
        for (const name of names) {
          dl.appendChild(el("dt", null, name === "patient" ? "For" : label(name)));
          const value = name === "patient" && fields[name] === "self" ? "You" : fields[name];
          dl.appendChild(el("dd", null, value));
        }
        li.appendChild(dl);
      }
      const replies = item.replies || [];
      if (replies.length) {
        const ol = el("ol", "replies-list");
        ol.setAttribute("aria-label", "Replies from your care team");
        for (const rep of replies) {
          const rli = el("li", "reply");
          rli.appendChild(el("p", "reply-meta", "Care team · " + fmt(rep.at)));
          rli.appendChild(el("p", "bubble", rep.text));
          ol.appendChild(rli);
        }
        li.appendChild(ol);
      } else {
        li.appendChild(el("p", "muted small", "No reply yet."));
      }
      list.appendChild(li);
    }
    show("inbox");
    $("inbox-title").focus();
  }

  function backToChat() {
    if (state.result && state.result.status === "redirected") {
      show("redirect");
      $("redirect-title").focus();
      return;
    }
    show("chat");
    focusComposer();
  }

  // --- wiring -------------------------------------------------------------------------------

  function autosize() {
    const box = $("message");
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight, 140) + "px";
  }

  function closePanel() {
    if (EMBEDDED) window.parent.postMessage({ type: "micare:close" }, "*");
  }

  function wireEvents() {
    $("login-form").addEventListener("submit", onLogin);
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      send($("message").value);
    });
    $("message").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send($("message").value);
      }
    });
    $("message").addEventListener("input", autosize);
    $("new-request").addEventListener("click", async () => {
      await startConversation();
      focusComposer();
    });
    $("open-inbox").addEventListener("click", openInbox);
    $("nav-inbox").addEventListener("click", openInbox);
    $("nav-chat").addEventListener("click", backToChat);
    $("inbox-back").addEventListener("click", backToChat);
    $("nav-logout").addEventListener("click", onLogout);
    if (EMBEDDED) {
      $("nav-close").hidden = false;
      $("nav-close").addEventListener("click", closePanel);
      document.addEventListener("keydown", (event) => {
        if (event.key === "Escape") closePanel();
      });
      window.addEventListener("message", (event) => {
        if (event.source !== window.parent || !event.data || event.data.type !== "micare:focus") return;
        state.wantFocus = true;
        focusCurrent();
      });
    }
    window.addEventListener("online", () => {
      if (state.pending && !state.inflight) deliver();
      if (!state.ws) connect();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !state.ws && state.csrf) connect();
    });
  }

  boot();
})();
