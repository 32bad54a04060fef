// The compute worker: loads the same WebAssembly module as the page. Its Rust `main` sees
// no window, installs the request handler (app/src/worker/mod.rs) and says Hello. If the
// module cannot start, the page gets the reason as plain text (page/bridge.rs).
import init from "../brainfm-app.js";

init().catch((err) => {
  self.postMessage(`the compute worker could not start: ${err}`);
});
