/* Kiosk pages only (loaded by survey.js): the offline side of the kiosk.
   - registers the service worker (kiosk-sw.js) and asks it to keep the offline pack fresh;
   - uploads the IndexedDB queue to POST /api/v1/responses, oldest first, one at a time,
     with exponential backoff and jitter (2 s doubling to 5 min; Retry-After on 429); the
     server is idempotent by UUID, so a retry after a lost answer stores nothing twice;
     an answer the server refuses (4xx other than 401/408/429) is held aside, not retried;
   - a heartbeat every minute (version, queue length, held, last delivery); when it says
     "reload", the kiosk reloads at its next start screen (never in a citizen's survey).
   Nothing here is ever shown to the citizen. */
/* global SipasStore */
(function () {
  "use strict";
  var home = document.body.getAttribute("data-home") || "";
  var match = /^\/k\/([A-Za-z0-9][A-Za-z0-9._-]{0,19})$/.exec(home);
  if (!match || !window.SipasStore || !window.fetch) { return; }
  var kiosk = match[1];
  var onStart = document.body.classList.contains("step-start");
  var API = "/api/v1/responses", BEAT = "/api/v1/kiosks/" + kiosk + "/heartbeat";
  var BEAT_MS = 60 * 1000, BASE_MS = 2000, CAP_MS = 5 * 60 * 1000;
  var attempt = 0, timer = null, busy = false;

  function later(ms) {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(drain, ms);
  }
  function backoff() {
    attempt += 1;
    var ceiling = Math.min(CAP_MS, BASE_MS * Math.pow(2, attempt - 1));
    return ceiling / 2 + Math.random() * ceiling / 2; // "equal jitter": spread the fleet out
  }

  function send(item) {
    return fetch(API, { method: "POST", credentials: "same-origin", cache: "no-store",
                        headers: { "Content-Type": "application/json" },
                        body: JSON.stringify(item.payload) });
  }

  /* One pass over the queue; resolves with the delay before the next pass (null: empty). */
  function pass(items) {
    var pending = items.filter(function (i) { return !i.held; });
    var next = function (k) {
      if (k >= pending.length) { attempt = 0; return Promise.resolve(null); }
      var item = pending[k];
      if (item.kiosk !== kiosk) {
        return SipasStore.hold(item.id, "queued by kiosk " + item.kiosk).then(function () { return next(k + 1); });
      }
      return send(item).then(function (resp) {
        if (resp.status === 200 || resp.status === 201) {
          attempt = 0;
          return SipasStore.remove(item.id)
            .then(function () { return SipasStore.setMeta("last_submit_at", new Date().toISOString()); })
            .then(function () { return next(k + 1); });
        }
        if (resp.status === 429) {
          var wait = parseInt(resp.headers.get("Retry-After") || "", 10);
          return isFinite(wait) && wait > 0 ? wait * 1000 + Math.random() * 1000 : backoff();
        }
        if (resp.status === 401 || resp.status === 408 || resp.status >= 500) { return backoff(); }
        return resp.json().catch(function () { return {}; }).then(function (body) {
          var code = (body && body.error && body.error.code) || "";
          return SipasStore.hold(item.id, resp.status + " " + code);
        }).then(function () { return next(k + 1); });
      }, function () { return backoff(); });
    };
    return next(0);
  }

  function drain() {
    if (busy) { return; }
    busy = true;
    SipasStore.list().then(pass).then(function (delay) {
      busy = false;
      if (delay !== null) { later(delay); }
    }, function () { busy = false; later(backoff()); });
  }

  function heartbeat() {
    var last = parseInt(localStorage.getItem("sipas.beat") || "0", 10);
    if (Date.now() - last >= BEAT_MS) {
      localStorage.setItem("sipas.beat", String(Date.now()));
      Promise.all([SipasStore.list(), SipasStore.getMeta("last_submit_at")]).then(function (got) {
        var items = got[0];
        return fetch(BEAT, { method: "POST", credentials: "same-origin", cache: "no-store",
                             headers: { "Content-Type": "application/json" },
                             body: JSON.stringify({
                               app_version: SipasStore.VERSION, queue_length: items.length,
                               held: items.filter(function (i) { return i.held; }).length,
                               last_submit_at: got[1] || null }) });
      }).then(function (resp) { return resp.ok ? resp.json() : null; }).then(function (data) {
        if (data && data.reload) {
          localStorage.setItem("sipas.reload", "1");
          reloadIfAsked();
        }
      }).catch(function () { /* offline: the next beat tries again */ });
    }
    setTimeout(heartbeat, 10000);
  }

  /* An operator's reload: fresh page and code, but only between two citizens. */
  function reloadIfAsked() {
    if (!onStart || localStorage.getItem("sipas.reload") !== "1") { return; }
    localStorage.removeItem("sipas.reload");
    var reg = navigator.serviceWorker && navigator.serviceWorker.getRegistration("/k/");
    Promise.resolve(reg).then(function (r) { return r && r.update(); })
      .catch(function () {}).then(function () { window.location.replace(home); });
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", function (ev) {
      var data = ev.data || {};
      if (data.type === "primed") { document.documentElement.setAttribute("data-offline-ready", "1"); }
      if (data.type === "queued") { later(500); }
    });
    navigator.serviceWorker.register("/k/sw.js", { scope: "/k/", updateViaCache: "none" })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (reg) {
        if (reg.active) { reg.active.postMessage({ type: "prime", kiosk: kiosk }); }
      })
      .catch(function () { /* no offline support on this browser: online works as before */ });
  }
  window.addEventListener("online", function () { attempt = 0; later(200); });
  reloadIfAsked();
  later(1500);
  setTimeout(heartbeat, 2000);
})();
