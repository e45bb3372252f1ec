/* Kiosk service worker (scope /k/). Online it stays out of the way: every request goes to the
   network first. When the network (or the server) fails it keeps the kiosk working:
   - page loads: the start and thank-you pages from the offline pack, static files from cache;
   - survey steps (form POSTs to /k/<id>/survey): rendered here from the pack's pages, the
     survey state kept in the page's hidden field as online (marked "offline.");
   - the final "send": the answer set is first written to the IndexedDB queue (with its UUID),
     then sent to the server if it can be; whatever happens the citizen sees the thank-you
     page, and kiosk.js uploads what is still queued when the network returns.
   The offline pack (/k/<id>/offline.json) is refreshed when a kiosk page asks ("prime"). */
/* global SipasStore */
"use strict";
importScripts("/static/js/offline-store.js");

var CACHE = "sipas-" + SipasStore.VERSION;
var ASSETS = ["/static/css/survey.css", "/static/js/survey.js", "/static/js/kiosk.js",
              "/static/js/offline-store.js"];
var PRIME_EVERY_MS = 10 * 60 * 1000;
var lastPrime = {};
var VALUES = { "1": 1, "2": 1, "3": 1, "4": 1, "5": 1, "na": 1 };

self.addEventListener("install", function (event) { event.waitUntil(self.skipWaiting()); });
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("sipas-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "prime" && /^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$/.test(data.kiosk || "")) {
    event.waitUntil(prime(data.kiosk, !!data.force).then(function (ok) {
      if (event.source) { event.source.postMessage({ type: ok ? "primed" : "prime-failed" }); }
    }));
  }
});

function packUrl(kiosk) { return "/k/" + kiosk + "/offline.json"; }

function htmlResponse(html, status) {
  return new Response(html, { status: status || 200, headers: {
    "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" } });
}

/* Fetch the pack (revalidated by ETag) and the static files; store pages under their URLs. */
function prime(kiosk, force) {
  var now = Date.now();
  if (!force && lastPrime[kiosk] && now - lastPrime[kiosk] < PRIME_EVERY_MS) {
    return Promise.resolve(true);
  }
  return fetch(packUrl(kiosk), { credentials: "same-origin", cache: "no-cache" })
    .then(function (resp) {
      if (!resp.ok) { throw new Error("pack " + resp.status); }
      return resp.json();
    })
    .then(function (pack) {
      return caches.open(CACHE).then(function (cache) {
        var u = pack.urls, puts = [
          cache.put(packUrl(kiosk), new Response(JSON.stringify(pack),
                                                 { headers: { "Content-Type": "application/json" } })),
          cache.put(u.start, htmlResponse(pack.html.vi.start)),
          cache.put(u.start + "?lang=vi", htmlResponse(pack.html.vi.start)),
          cache.put(u.start + "?lang=en", htmlResponse(pack.html.en.start)),
          cache.put(u.thanks, htmlResponse(pack.html.vi.thanks)),
          cache.put(u.thanks + "?lang=vi", htmlResponse(pack.html.vi.thanks)),
          cache.put(u.thanks + "?lang=en", htmlResponse(pack.html.en.thanks)),
          cache.addAll(ASSETS)
        ];
        return Promise.all(puts);
      });
    })
    .then(function () { lastPrime[kiosk] = now; return true; })
    .catch(function () { return false; });
}

function loadPack(kiosk) {
  return caches.open(CACHE).then(function (cache) { return cache.match(packUrl(kiosk)); })
    .then(function (resp) { return resp ? resp.json() : null; });
}

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var t = setTimeout(function () { reject(new Error("timeout")); }, ms);
    promise.then(function (v) { clearTimeout(t); resolve(v); },
                 function (e) { clearTimeout(t); reject(e); });
  });
}

self.addEventListener("fetch", function (event) {
  var req = event.request, url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  var m = /^\/k\/([A-Za-z0-9][A-Za-z0-9._-]{0,19})(\/survey|\/thanks)?$/.exec(url.pathname);
  if (m && req.method === "POST" && m[2] === "/survey") {
    event.respondWith(step(req, m[1]));
  } else if (m && req.method === "GET" && req.mode === "navigate") {
    event.respondWith(withTimeout(fetch(req), 8000).catch(function () {
      return caches.match(url.pathname + url.search).then(function (hit) {
        return hit || caches.match(url.pathname);
      }).then(function (hit) { return hit || Response.error(); });
    }));
  } else if (req.method === "GET" && ASSETS.indexOf(url.pathname) >= 0) {
    event.respondWith(withTimeout(fetch(req), 8000).catch(function () {
      return caches.match(url.pathname).then(function (hit) { return hit || Response.error(); });
    }));
  }
});

/* ---------------------------------------------------------------- survey state */
function b64urlToBytes(text) {
  var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  while (b64.length % 4) { b64 += "="; }
  var bin = atob(b64), out = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
  return out;
}
function bytesToB64url(bytes) {
  var bin = "";
  for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function encodeOffline(state) {
  return "offline." + bytesToB64url(new TextEncoder().encode(JSON.stringify(state)));
}
/* The state in the page: ours ("offline.<json>"), or the server's signed one, which is
   itsdangerous' "<base64 json>.<time>.<signature>" ("." first when zlib-compressed): signed,
   not encrypted, and on this screen already. Read, never trusted: the server validates the
   upload like any other. */
function decodeState(token) {
  if (!token) { return Promise.resolve(null); }
  var json;
  try {
    if (token.indexOf("offline.") === 0) {
      json = new TextDecoder().decode(b64urlToBytes(token.slice(8)));
      return Promise.resolve(JSON.parse(json));
    }
    var compressed = token.charAt(0) === ".", body = b64urlToBytes(token.split(".")[compressed ? 1 : 0]);
    if (!compressed) { return Promise.resolve(JSON.parse(new TextDecoder().decode(body))); }
    var stream = new Blob([body]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).text().then(JSON.parse).catch(function () { return null; });
  } catch (e) {
    return Promise.resolve(null);
  }
}

function uuid4() {
  var b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
  return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
}

function isoSeconds(ms) { return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"); }

/* The answer set as POST /api/v1/responses takes it (see services/validation.py). */
function toPayload(state, pack) {
  var answers = {}, n = 0;
  Object.keys(state.a || {}).forEach(function (code) {
    var v = state.a[code];
    if (VALUES[v]) { answers[code] = v === "na" ? "na" : parseInt(v, 10); n += 1; }
  });
  if (!n && !state.c) { return null; }
  return { id: state.r, centre: pack.centre, counter: pack.counter, channel: "kiosk",
           questionnaire: state.v, field: state.f || null, answers: answers,
           comment: state.c || null, started_at: isoSeconds(state.t * 1000),
           client_time: isoSeconds(Date.now()) };
}

/* This page's inputs into the state, as the server's flow.absorb does. */
function absorb(state, page, form, pack) {
  (page.items || []).forEach(function (item) {
    var v = form.get("i" + item.id);
    if (v && VALUES[v] && (v !== "na" || item.na)) { state.a[item.code] = v; }
  });
  if (page.kind === "comment") { state.c = String(form.get("comment") || "").slice(0, pack.comment_max); }
  if (form.get("website")) { state.h = 1; }
}

function escapeHtml(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function render(pack, state) {
  var html = pack.html[state.l === "en" ? "en" : "vi"].steps[state.s];
  var page = pack.pages[state.s], byId = {};
  (page.items || []).forEach(function (item) { byId[item.id] = item.code; });
  html = html.split(pack.marks.state).join(encodeOffline(state));
  html = html.split(pack.marks.comment).join(escapeHtml(state.c || ""));
  html = html.replace(/(<input type="radio" id="i(\d+)-(\w+)" name="i\d+" value="\w+")/g,
    function (all, tag, id, value) {
      return byId[id] && state.a[byId[id]] === value ? tag + " checked" : tag;
    });
  return htmlResponse(html);
}

function notifyQueued() {
  return self.clients.matchAll().then(function (all) {
    all.forEach(function (c) { c.postMessage({ type: "queued" }); });
  });
}

function thanks(pack, kiosk, lang) {
  var base = pack ? pack.urls.thanks : "/k/" + kiosk + "/thanks";
  return Response.redirect(base + "?lang=" + (lang === "en" ? "en" : "vi"), 303);
}

/* ---------------------------------------------------------------- one survey POST */
function step(req, kiosk) {
  return req.clone().formData().then(function (form) {
    var nav = form.get("nav") || "", token = String(form.get("state") || "");
    // a page from the pack (no CSRF token) or rendered here continues here, online or not
    if (token.indexOf("offline.") === 0 || !form.get("csrf_token")) {
      return local(form, kiosk, nav, token);
    }
    if (nav === "submit") { return submit(req, form, kiosk, token); }
    return withTimeout(fetch(req), 15000).then(function (resp) {
      if (resp.status >= 500) { throw new Error("server " + resp.status); }
      return resp;
    }).catch(function () { return local(form, kiosk, nav, token); });
  });
}

/* Online submit of a server-rendered survey: queue first, then send; thank-you regardless. */
function submit(req, form, kiosk, token) {
  return Promise.all([loadPack(kiosk), decodeState(token)]).then(function (got) {
    var pack = got[0], state = got[1], payload = null;
    if (pack && state && state.r) {
      state.a = state.a || {};
      absorb(state, pack.pages[Math.min(state.s || 0, pack.pages.length - 1)], form, pack);
      payload = toPayload(state, pack);
    }
    var queued = payload ? SipasStore.add(kiosk, payload).catch(function () {}) : Promise.resolve();
    return queued.then(function () {
      return withTimeout(fetch(req), 20000).then(function (resp) {
        if (resp.type === "opaqueredirect" || (resp.status >= 300 && resp.status < 400)) {
          // stored (or nothing to store): the queued copy is no longer needed
          return (payload ? SipasStore.remove(payload.id) : Promise.resolve()).then(function () { return resp; });
        }
        if (resp.status >= 500 || resp.status === 429 || resp.status === 408) {
          return notifyQueued().then(function () { return thanks(pack, kiosk, state && state.l); });
        }
        // a deliberate refusal (an expired page...): show it, drop our copy
        return (payload ? SipasStore.remove(payload.id) : Promise.resolve()).then(function () { return resp; });
      }, function () {
        return notifyQueued().then(function () { return thanks(pack, kiosk, state && state.l); });
      });
    });
  });
}

/* The network is down (or the survey began offline): the pack plays the server's part. */
function local(form, kiosk, nav, token) {
  return loadPack(kiosk).then(function (pack) {
    if (!pack) { return Response.error(); }
    var last = pack.pages.length - 1;
    if (nav === "start") {
      var lang = form.get("lang") === "en" ? "en" : "vi";
      return render(pack, { r: uuid4(), v: pack.questionnaire, t: Math.floor(Date.now() / 1000),
                            l: lang, s: 0, f: null, a: {}, c: "", h: 0 });
    }
    return decodeState(token).then(function (state) {
      if (!state || !state.r) { return Response.redirect(pack.urls.start, 303); }
      state.a = state.a || {};
      state.s = Math.min(Math.max(parseInt(state.s, 10) || 0, 0), last);
      var page = pack.pages[state.s];
      absorb(state, page, form, pack);
      if (page.kind === "field" && form.has("field")) {
        var chosen = form.get("field");
        state.f = pack.fields.indexOf(chosen) >= 0 ? chosen : null;
        nav = "next";
      }
      if (nav === "lang-vi" || nav === "lang-en") { state.l = nav.slice(-2); }
      else if (nav === "next") { state.s = Math.min(state.s + 1, last); }
      else if (nav === "back") { state.s = Math.max(state.s - 1, 0); }
      else if (nav === "submit") {
        var payload = toPayload(state, pack);
        var queued = payload ? SipasStore.add(kiosk, payload).then(notifyQueued) : Promise.resolve();
        return queued.catch(function () {}).then(function () { return thanks(pack, kiosk, state.l); });
      }
      return render(pack, state);
    });
  });
}
