// The app under faults, in real headless Chromium: browser storage that throws (private
// windows, storage switched off), IndexedDB that is full, a second run started while one
// runs, a crashed worker, a scan too large for the tab, and the WebGPU device lost mid-run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { readNifti } from "./nifti.mjs";
import { ARTIFACTS, SAMPLE, loadApp, open, serve, tinyBundle, writeLabelMap } from "./helpers.mjs";

let server;
let origin;

before(async () => {
  ({ server, origin } = await serve());
});

after(() => server?.close());

/** Uncaught exceptions and panics (console errors about storage are expected here). */
const crashes = (problems) => problems.filter((p) => /page error|panicked|RuntimeError|unreachable/.test(p));

async function sampleWithDefaultModel(page) {
  await page.waitForSelector('[data-testid="model-info"]', { timeout: 60_000 });
  await page.click('[data-testid="sample"]');
  await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
}

async function segmented(page) {
  await page.waitForSelector('[data-testid="run-status"][data-state="done"], [data-testid="run-status"][data-state="failed"]',
    { timeout: 600_000 });
  const status = page.locator('[data-testid="run-status"]');
  assert.equal(await status.getAttribute("data-state"), "done", await status.textContent());
}

test("without IndexedDB and localStorage the app still segments and says models cannot be kept", { timeout: 900_000 }, async () => {
  const { browser, context, page, problems } = await open({ webgpu: false });
  try {
    // What a private window or a storage-disabled profile does: touching either store throws.
    await context.addInitScript(() => {
      for (const name of ["indexedDB", "localStorage"]) {
        Object.defineProperty(window, name, {
          configurable: true,
          get() { throw new DOMException(`${name} is blocked by the test`, "SecurityError"); },
        });
      }
    });
    await loadApp(page, origin);
    await sampleWithDefaultModel(page);
    await page.click('[data-testid="run"]');
    await segmented(page);
    const saved = await page.textContent('[data-testid="saved-message"]', { timeout: 60_000 });
    assert.match(saved, /does not let the page keep data/);
    // Settings cannot be remembered, but the switch still works.
    await page.click('[data-testid="cpu-only"]');
    await page.waitForSelector('[data-testid="compute"][data-backend="cpu"]', { timeout: 120_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, "faults-no-storage.png"), fullPage: true });
    assert.deepEqual(crashes(problems), []);
  } finally {
    await browser.close();
  }
});

test("a second segmentation or a fine-tuning cannot start while one runs", { timeout: 900_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    await loadApp(page, origin);
    await sampleWithDefaultModel(page);
    await page.click('[data-testid="run"]');
    await page.waitForSelector('[data-testid="run-status"][data-state="running"]', { timeout: 60_000 });
    assert.ok(await page.isDisabled('[data-testid="run"]'), "Segment stays clickable during a run");
    assert.ok(await page.isDisabled('[data-testid="ft-start"]'), "fine-tuning can start during a run");
    // A forced click on the disabled button changes nothing.
    await page.click('[data-testid="run"]', { force: true });
    await segmented(page);
    assert.ok(!(await page.isDisabled('[data-testid="run"]')), "Segment stays disabled after the run");
    assert.deepEqual(crashes(problems), []);
  } finally {
    await browser.close();
  }
});

test("a crashed worker is replaced and the page can segment again", { timeout: 900_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    const workers = [];
    page.on("worker", (w) => workers.push(w));
    await loadApp(page, origin);
    await sampleWithDefaultModel(page);
    assert.equal(workers.length, 1);
    // An uncaught error inside the worker, as a trap in the wasm would raise.
    await workers[0].evaluate(() => setTimeout(() => { throw new Error("simulated crash"); }, 0));
    await page.waitForSelector('[data-testid="run-status"][data-state="failed"]', { timeout: 60_000 });
    assert.match(await page.textContent('[data-testid="run-status"]'), /simulated crash/);
    // A fresh worker takes over with the scan and the model, and the next run works.
    for (let i = 0; i < 600 && workers.length < 2; i++) await page.waitForTimeout(100);
    assert.equal(workers.length, 2, "no fresh worker was started");
    await page.waitForSelector('[data-testid="run"]:not([disabled])', { timeout: 120_000 });
    await page.click('[data-testid="run"]');
    await segmented(page);
    assert.deepEqual(crashes(problems), []);
  } finally {
    await browser.close();
  }
});

/** A NIfTI-1 header (uint8, unit voxels) declaring `dims`, with no voxel data after it. */
function headerOnly(dims) {
  const b = Buffer.alloc(352);
  b.writeInt32LE(348, 0);
  [3, ...dims, 1, 1, 1, 1].forEach((d, i) => b.writeInt16LE(d, 40 + 2 * i));
  b.writeInt16LE(2, 70); // uint8
  b.writeInt16LE(8, 72);
  for (let i = 0; i < 8; i++) b.writeFloatLE(1, 76 + 4 * i);
  b.writeFloatLE(352, 108);
  b.write("n+1\0", 344, "latin1");
  return b;
}

test("a scan too large for the tab gets a plain error before anything is allocated", { timeout: 300_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    await loadApp(page, origin);
    // 512^3 voxels declared in a 352-byte file: refused from the header alone.
    await page.setInputFiles('[data-testid="file"]', { name: "huge.nii", mimeType: "application/octet-stream", buffer: headerOnly([512, 512, 512]) });
    const error = await page.textContent('[data-testid="error"]', { timeout: 60_000 });
    assert.match(error, /huge\.nii/);
    assert.match(error, /134217728 voxels/);
    assert.match(error, /command line/);
    // The page is still usable.
    await page.click('[data-testid="sample"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    assert.deepEqual(crashes(problems), []);
  } finally {
    await browser.close();
  }
});

test("IndexedDB that is full: keeping a model says why, and the model still works here", { timeout: 900_000 }, async () => {
  const { browser, context, page, problems } = await open({ webgpu: false });
  try {
    // What a browser over its storage quota does when a record is written.
    await context.addInitScript(() => {
      IDBObjectStore.prototype.put = function () {
        throw new DOMException("the storage quota is used up (test)", "QuotaExceededError");
      };
    });
    const label = path.join(ARTIFACTS, "faults-bright-mask.nii.gz");
    writeLabelMap(label);
    await loadApp(page, origin);
    await page.waitForSelector('[data-testid="model-info"]', { timeout: 60_000 });
    await page.setInputFiles('[data-testid="ft-image"]', SAMPLE);
    await page.setInputFiles('[data-testid="ft-label"]', label);
    await page.click('[data-testid="ft-add"]');
    await page.waitForSelector('[data-testid="ft-pairs"] li', { timeout: 30_000 });
    for (const [id, value] of [["ft-steps", 2], ["ft-classes", "background,bright"]]) {
      await page.fill(`[data-testid="${id}"]`, String(value));
      await page.dispatchEvent(`[data-testid="${id}"]`, "change");
    }
    await page.check('[data-testid="ft-newhead"]');
    await page.click('[data-testid="ft-start"]');
    await page.waitForSelector('[data-testid="ft-status"][data-state="done"], [data-testid="ft-status"][data-state="failed"]', { timeout: 600_000 });
    assert.equal(await page.getAttribute('[data-testid="ft-status"]', "data-state"), "done", await page.textContent('[data-testid="ft-status"]'));
    await page.click('[data-testid="ft-keep"]');
    const message = await page.textContent('[data-testid="saved-message"]', { timeout: 60_000 });
    assert.match(message, /quota/, message);
    // Not kept, but usable in this tab.
    await page.click('[data-testid="ft-apply"]');
    await page.waitForSelector('[data-testid="model-info"]:has-text("fine-tuned here")', { timeout: 60_000 });
    await page.click('[data-testid="sample"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    await page.click('[data-testid="run"]');
    await segmented(page);
    assert.deepEqual(crashes(problems), []);
  } finally {
    await browser.close();
  }
});

// Prepended to the worker's glue (www/static/worker.js) by the test: once the page asks for
// a segmentation, the worker's WebGPU device is destroyed just before the third buffer read
// of that run (one read per batch of windows), so the device is lost mid-run, as a driver
// reset would lose it. The glue's own watch on `device.lost` is what the app relies on.
const LOSE_DEVICE_MID_RUN = `
{
  const devices = [];
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    return device;
  };
  let armed = false;
  let reads = 0;
  // Request::Segment is the CBOR text "Segment"; the Rust handler sees the same message.
  self.addEventListener("message", (ev) => {
    if (ev.data instanceof Uint8Array && ev.data.length < 16 && new TextDecoder().decode(ev.data).includes("Segment")) armed = true;
  });
  const mapAsync = GPUBuffer.prototype.mapAsync;
  GPUBuffer.prototype.mapAsync = function (...args) {
    if (armed && ++reads === 3) {
      console.log(\`brainfm-test: destroying \${devices.length} WebGPU device(s) at read \${reads} of the run\`);
      for (const d of devices) d.destroy();
    }
    return mapAsync.apply(this, args);
  };
  self.testLoseDeviceHook = true;
}
`;

/** The label map of the last segmentation, exported as the user would (.nii.gz). */
async function exportedLabels(page, name) {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-nifti"]')]);
  const file = path.join(ARTIFACTS, name);
  await dl.saveAs(file);
  return readNifti(fs.readFileSync(file)).voxels();
}

test("the WebGPU device lost mid-run: the run finishes on the CPU, and later runs stay there", { timeout: 1_200_000 }, async () => {
  const bundle = tinyBundle("faults-tiny.bfm");
  const { browser, context, page, problems } = await open({ webgpu: true, serviceWorkers: "block" });
  try {
    await context.route("**/static/worker.js", async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, body: LOSE_DEVICE_MID_RUN + (await response.text()) });
    });
    const workers = [];
    page.on("worker", (w) => workers.push(w));
    const logs = [];
    page.on("console", (m) => logs.push(m.text()));
    await loadApp(page, origin);
    const compute = page.locator('[data-testid="compute"]');
    assert.equal(await compute.getAttribute("data-backend"), "webgpu", `expected WebGPU: ${await compute.textContent()}`);
    assert.equal(await workers[0].evaluate(() => self.testLoseDeviceHook), true, "the test's hook is not in the worker");
    await page.click('[data-testid="sample"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    await page.setInputFiles('[data-testid="file"]', bundle);
    await page.waitForSelector('[data-testid="model-info"]', { timeout: 60_000 });
    await page.waitForSelector('[data-testid="run"]:not([disabled])', { timeout: 120_000 });

    await page.click('[data-testid="run"]');
    // The loss is noticed and the run goes on, on the CPU, saying so (without the fallback
    // the run fails here: "the compute device failed while reading results: The device is
    // poisoned ...").
    const status = page.locator('[data-testid="run-status"]');
    await page.waitForSelector('[data-testid="run-status"][data-fallback="cpu"], [data-testid="run-status"][data-state="failed"]', { timeout: 300_000 });
    const moved = await status.textContent();
    assert.equal(await status.getAttribute("data-fallback"), "cpu", moved);
    if ((await status.getAttribute("data-state")) === "running") assert.match(moved, /WebGPU device lost \(.+\): finishing on the CPU/, moved);
    await segmented(page);
    const text = await status.textContent();
    assert.equal(await status.getAttribute("data-backend"), "cpu", text);
    assert.equal(await status.getAttribute("data-fallback"), "cpu", text);
    assert.match(text, /WebGPU device was lost during this run \(.+\), so it was finished on the CPU/);
    assert.match(text, /later runs stay on the CPU until you reload the page/);
    await page.waitForSelector('[data-testid="compute"][data-backend="cpu"]', { timeout: 60_000 });
    assert.match(await compute.textContent(), /WebGPU device lost \(.+\): models run on the CPU .* until you reload the page/);
    assert.ok(await page.isChecked('[data-testid="cpu-only"]'), "the CPU switch does not show the CPU");
    assert.ok(workers.length >= 2, "the worker was not replaced");
    assert.ok(logs.some((l) => /brainfm-test: destroying 1 WebGPU device\(s\) at read 3 of the run/.test(l)), logs.join("\n"));
    await page.screenshot({ path: path.join(ARTIFACTS, "faults-device-lost.png"), fullPage: true });
    const fallback = await exportedLabels(page, "faults-device-lost-fallback.nii.gz");
    const fallbackMl = await page.$$eval('[data-testid="legend"] [data-testid="ml"]', (cs) => cs.map((c) => c.textContent));

    // A later run: on the CPU, a plain CPU-path run; the fallback's result must be the same.
    await page.click('[data-testid="run"]');
    await segmented(page);
    const again = await status.textContent();
    assert.equal(await status.getAttribute("data-backend"), "cpu", again);
    assert.equal(await status.getAttribute("data-fallback"), null, again);
    assert.match(again, /lost earlier in this tab: runs stay on the CPU until you reload the page/);
    const cpu = await exportedLabels(page, "faults-device-lost-cpu.nii.gz");
    const cpuMl = await page.$$eval('[data-testid="legend"] [data-testid="ml"]', (cs) => cs.map((c) => c.textContent));
    assert.equal(fallback.length, cpu.length);
    let same = 0;
    for (let i = 0; i < cpu.length; i++) if (cpu[i] === fallback[i]) same++;
    assert.ok(same / cpu.length > 0.98, `the fallback and a CPU run agree on only ${(100 * same / cpu.length).toFixed(2)} % of voxels`);
    assert.deepEqual(fallbackMl, cpuMl, "the fallback's volumes differ from a CPU run's");
    assert.ok(cpu.some((l) => l > 0), "the segmentation is all background");
    assert.deepEqual(crashes(problems), []);
  } finally {
    await browser.close();
  }
});
