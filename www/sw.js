// brainfm service worker: keeps the app's own files so the page works offline once loaded.
// Network first (a rebuilt app is picked up at once), the cache when the network fails.
// Only same-origin GET requests are touched; nothing is ever sent anywhere.
const CACHE = "brainfm-v4";
const FILES = [
  "./",
  "index.html",
  "styles.css",
  "brainfm-app.js",
  "brainfm-app_bg.wasm",
  "static/boot.js",
  "static/worker.js",
  "sample/colin27_t1_2mm.nii.gz",
  "models/default.bfm",
  // Fetched by the page only on request (the multi-contrast button, or at start once it was
  // last picked; the teaching panel); cached here for offline use.
  "models/multicontrast.bfm",
  "models/pretrained.bfm",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith(
    fetch(req)
      .then((resp) => {
        if (resp.ok) {
          const copy = resp.clone();
          caches.open(CACHE).then((cache) => cache.put(req, copy));
        }
        return resp;
      })
      .catch(() => caches.match(req, { ignoreSearch: true }).then((hit) => hit || Response.error())),
  );
});
