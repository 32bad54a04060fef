// The app under faults, in real headless Chromium: browser storage that throws (private
// windows, storage switched off), IndexedDB that is full, a second run started while one
// runs, a crashed worker, and a scan too large for the tab.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ARTIFACTS, SAMPLE, loadApp, open, serve, writeLabelMap } from "./helpers.mjs";

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
