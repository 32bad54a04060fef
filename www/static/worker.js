// The compute worker: loads the same WebAssembly module as the page. Its Rust `main` sees
// no window, installs the request handler (app/src/worker/mod.rs) and says Hello. If the
// module cannot start, the page gets the reason as plain text (page/bridge.rs).
import init from "../brainfm-app.js";

// A lost WebGPU device (a driver reset, the GPU process gone, `destroy()`): burn sees it
// only as reads that fail, so every device the worker gets is watched here, in plain JS
// that still runs if the WebAssembly has trapped. The page hears of it as
// `{ deviceLost: { reason, message } }` (page/bridge.rs makes it `Reply::DeviceLost` and
// finishes the run on the CPU); `self.brainfmDeviceLost` lets the worker's Rust side tell
// a failure the loss caused from any other (worker/segment.rs).
if (self.GPUAdapter?.prototype?.requestDevice) {
  const requestDevice = self.GPUAdapter.prototype.requestDevice;
  self.GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    device.lost.then((info) => {
      const lost = { reason: String(info?.reason ?? "unknown"), message: String(info?.message ?? "") };
      self.brainfmDeviceLost ??= lost;
      self.postMessage({ deviceLost: lost });
    });
    return device;
  };
}

init().catch((err) => {
  self.postMessage(`the compute worker could not start: ${err}`);
});
