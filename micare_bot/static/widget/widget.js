// micare-bot widget loader. A clinic adds one tag to any page:
//   <script src="https://GATEWAY/widget.js" data-clinic="CLINIC" async></script>
// It adds a launcher button (in a shadow root, so neither page's styles leak into the other)
// that opens the chat panel in an iframe served by the gateway: the host page's scripts cannot
// read what the patient types or what the care team answers.
(() => {
  "use strict";
  const script = document.currentScript ||
    document.querySelector('script[data-clinic][src$="/widget.js"]');
  if (!script || script.dataset.micareLoaded) return;
  script.dataset.micareLoaded = "true";

  const gateway = new URL(script.src, window.location.href).origin;
  const clinic = script.dataset.clinic || "";
  const label = script.dataset.label || "Chat with your care team";
  const OPEN_KEY = "micare.widget.open." + clinic; // a flag only: reopen the panel after a reload

  const host = document.createElement("div");
  host.setAttribute("data-micare-widget", clinic);
  const root = host.attachShadow({ mode: "open" });

  const sheet = document.createElement("link");
  sheet.rel = "stylesheet";
  sheet.href = gateway + "/widget/static/launcher.css";
  root.appendChild(sheet);

  const button = document.createElement("button");
  button.type = "button";
  button.className = "launcher";
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "micare-panel");
  const icon = document.createElement("span");
  icon.className = "icon";
  icon.setAttribute("aria-hidden", "true");
  const text = document.createElement("span");
  text.textContent = label;
  button.append(icon, text);

  const panel = document.createElement("div");
  panel.id = "micare-panel";
  panel.className = "panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Secure chat with your care team");
  panel.hidden = true;

  let frame = null;

  function remember(open) {
    try {
      if (open) window.sessionStorage.setItem(OPEN_KEY, "1");
      else window.sessionStorage.removeItem(OPEN_KEY);
    } catch (e) { /* storage blocked: the panel just starts closed */ }
  }

  function ensureFrame() {
    if (frame) return frame;
    frame = document.createElement("iframe");
    frame.className = "frame";
    frame.title = "Secure chat with your care team";
    frame.referrerPolicy = "no-referrer";
    frame.src = gateway + "/widget/panel?clinic=" + encodeURIComponent(clinic);
    panel.appendChild(frame);
    return frame;
  }

  function open(focus) {
    const f = ensureFrame();
    panel.hidden = false;
    host.classList.add("open");
    button.setAttribute("aria-expanded", "true");
    button.classList.add("is-open");
    remember(true);
    if (focus) {
      f.focus();
      const ask = () => f.contentWindow && f.contentWindow.postMessage({ type: "micare:focus" }, gateway);
      ask();
      f.addEventListener("load", ask, { once: true });
    }
  }

  function close() {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    button.classList.remove("is-open");
    remember(false);
    button.focus();
  }

  button.addEventListener("click", () => (panel.hidden ? open(true) : close()));
  window.addEventListener("message", (event) => {
    if (!frame || event.origin !== gateway || event.source !== frame.contentWindow) return;
    if (event.data && event.data.type === "micare:close") close();
  });

  root.append(panel, button);
  (document.body || document.documentElement).appendChild(host);

  let wasOpen = false;
  try { wasOpen = window.sessionStorage.getItem(OPEN_KEY) === "1"; } catch (e) { wasOpen = false; }
  if (wasOpen) open(false);
})();
