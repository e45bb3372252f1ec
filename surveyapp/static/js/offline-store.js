/* The kiosk's offline answer queue in IndexedDB, shared by the page (kiosk.js: uploads,
   heartbeats) and the service worker (kiosk-sw.js: adds answers sent while offline).
   One record per answer set, keyed by its UUID (so adding it twice keeps one), ordered by
   the time it was queued; "held" marks an answer the server refused, kept for an operator.
   IndexedDB survives a browser restart: a kiosk switched off with answers queued still has
   them when it comes back. */
(function (root) {
  "use strict";
  var NAME = "sipas-kiosk", VERSION = 1, QUEUE = "queue", META = "meta";
  var counter = 0;

  function open() {
    return new Promise(function (resolve, reject) {
      var req = root.indexedDB.open(NAME, VERSION);
      req.onupgradeneeded = function () {
        var db = req.result;
        if (!db.objectStoreNames.contains(QUEUE)) {
          db.createObjectStore(QUEUE, { keyPath: "id" }).createIndex("seq", "seq");
        }
        if (!db.objectStoreNames.contains(META)) { db.createObjectStore(META); }
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  // Run work(transaction) -> IDBRequest|undefined; resolves with that request's result once
  // the transaction has committed (durable), never before.
  function run(stores, mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(stores, mode), req = work(t), result;
        if (req) { req.onsuccess = function () { result = req.result; }; }
        t.oncomplete = function () { db.close(); resolve(result); };
        t.onerror = t.onabort = function () { db.close(); reject(t.error); };
      });
    });
  }

  var Store = {
    /** Code version, reported in heartbeats and part of the service worker's cache name. */
    VERSION: "kiosk-2026.11.27-1",

    /** Queue an answer set (the API payload); a second add of the same id keeps the first. */
    add: function (kiosk, payload) {
      return run([QUEUE], "readwrite", function (t) {
        var store = t.objectStore(QUEUE), get = store.get(payload.id);
        get.onsuccess = function () {
          if (!get.result) {
            counter += 1;
            store.put({ id: payload.id, kiosk: kiosk, payload: payload, held: null,
                        seq: Date.now() * 1000 + (counter % 1000),
                        queued_at: new Date().toISOString() });
          }
        };
      });
    },
    /** Every queued record, oldest first. */
    list: function () {
      return run([QUEUE], "readonly", function (t) {
        return t.objectStore(QUEUE).index("seq").getAll();
      }).then(function (rows) { return rows || []; });
    },
    remove: function (id) {
      return run([QUEUE], "readwrite", function (t) { t.objectStore(QUEUE).delete(id); });
    },
    /** Keep a refused answer aside with the server's reason; it no longer blocks the queue. */
    hold: function (id, reason) {
      return run([QUEUE], "readwrite", function (t) {
        var store = t.objectStore(QUEUE), get = store.get(id);
        get.onsuccess = function () {
          if (get.result) { get.result.held = String(reason).slice(0, 200); store.put(get.result); }
        };
      });
    },
    getMeta: function (key) {
      return run([META], "readonly", function (t) { return t.objectStore(META).get(key); });
    },
    setMeta: function (key, value) {
      return run([META], "readwrite", function (t) { t.objectStore(META).put(value, key); });
    }
  };
  root.SipasStore = Store;
})(self);
