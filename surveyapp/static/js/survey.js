/* Progressive enhancement only: every page works without this file.
   - kiosk idle reset: back to the start screen after data-idle seconds without a touch, and
     at once when a kiosk survey page is reached by Back or reload;
   - auto-advance: after an answer, bring the next unanswered statement (or Next) into view;
   - no double submit: buttons are disabled once a form is sent (the server is idempotent);
   - kiosks: loads offline-store.js + kiosk.js (offline queue, service worker, heartbeat). */
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle") || "0", 10);
  var home = body.getAttribute("data-home");
  // A kiosk page reached by Back or by a reload (which re-sends the previous citizen's form)
  // goes straight to the start screen, hidden meanwhile: the next person sees none of it.
  var entry = window.performance && performance.getEntriesByType &&
    performance.getEntriesByType("navigation")[0];
  if (idle > 0 && home && entry && (entry.type === "back_forward" || entry.type === "reload") &&
      !body.classList.contains("step-start")) {
    document.documentElement.style.visibility = "hidden";
    window.location.replace(home);
    return;
  }
  // Kiosk: the offline queue, service worker and heartbeat (kiosk.js, after its store).
  if (idle > 0 && home && /^\/k\/[^/?]+$/.test(home) && "indexedDB" in window) {
    ["offline-store.js", "kiosk.js"].forEach(function (name) {
      var s = document.createElement("script");
      s.src = "/static/js/" + name;
      s.async = false; // run in this order
      document.head.appendChild(s);
    });
  }
  if (idle > 0 && home) {
    var timer = null;
    var reset = function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(function () { window.location.replace(home); }, idle * 1000);
    };
    ["pointerdown", "keydown", "touchstart", "input", "scroll"].forEach(function (ev) {
      window.addEventListener(ev, reset, { passive: true });
    });
    reset();
  }
  // Smooth scrolling only for people who have not asked their system for less motion.
  var calm = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var bringIntoView = function (el) { el.scrollIntoView({ behavior: calm ? "auto" : "smooth", block: "center" }); };
  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input || input.type !== "radio") { return; }
    var items = Array.prototype.slice.call(document.querySelectorAll("fieldset.item"));
    var here = items.indexOf(input.closest("fieldset.item"));
    for (var i = here + 1; i < items.length; i++) {
      if (!items[i].querySelector("input:checked")) {
        bringIntoView(items[i]);
        return;
      }
    }
    var next = document.querySelector(".nav .primary");
    if (next) { bringIntoView(next); }
  });
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    window.setTimeout(function () {
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = true; });
    }, 0);
  });
})();
