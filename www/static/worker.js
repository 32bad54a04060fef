// The inference worker: loads the same WebAssembly module as the page. Its Rust `main`
// sees no window, installs the message handler (app/src/worker.rs) and says "hello".
import init from "../brainfm-app.js";

init().catch((err) => {
  self.postMessage({ type: "error", message: `the inference worker could not start: ${err}` });
});
