// Starts the brainfm WebAssembly app. A file of its own rather than trunk's inline loader,
// so the page's Content-Security-Policy can forbid inline scripts (Trunk.toml: pattern_script).
import init from "../brainfm-app.js";

const status = document.getElementById("boot");
try {
  await init();
  status?.remove();
} catch (err) {
  if (status) {
    status.textContent = `brainfm could not start: ${err}`;
    status.classList.add("error");
  }
  throw err;
}

// Offline use: a service worker (same origin) keeps the app's own files.
if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("sw.js").catch((err) => {
    console.warn(`brainfm: offline support unavailable (${err})`);
  });
}
