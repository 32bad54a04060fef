// brainfm web app in real headless Chromium (playwright-core, Node's built-in test runner).
//
// Needs: a trunk build in dist-test/ (DIST), Chromium at CHROMIUM (default /usr/bin/chromium),
// the brainfm CLI at BRAINFM_CLI to make a test model bundle. Writes screenshots, the
// exported files and metrics.json to ARTIFACTS (default tests/browser/artifacts).
// Run: scripts/test-browser.sh (builds with trunk first).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { readNifti } from "./nifti.mjs";
import { ARTIFACTS, CLI, SAMPLE, assertPrivate as assertPrivateTo, loadApp as loadAppAt, open, serve, tinyBundle } from "./helpers.mjs";

// SwiftShader (WebGPU on the CPU) and wasm CPU inference are slow on small machines.
const RUN_TIMEOUT = Number(process.env.RUN_TIMEOUT_MS ?? 15 * 60 * 1000);

const metrics = {};
let server;
let origin;
let bundlePath;

before(async () => {
  bundlePath = tinyBundle("tiny-test.bfm");
  ({ server, origin } = await serve());
});

after(() => {
  server?.close();
  fs.writeFileSync(path.join(ARTIFACTS, "metrics.json"), JSON.stringify(metrics, null, 2));
  console.log("# metrics", JSON.stringify(metrics));
});

const assertPrivate = (requests) => assertPrivateTo(requests, origin);
const loadApp = (page) => loadAppAt(page, origin);

async function loadSampleAndModel(page) {
  await page.click('[data-testid="sample"]');
  await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
  await page.setInputFiles('[data-testid="file"]', bundlePath);
  await page.waitForSelector('[data-testid="model-info"]', { timeout: 60_000 });
}

async function segment(page) {
  const t0 = Date.now();
  await page.click('[data-testid="run"]');
  await page.waitForSelector('[data-testid="run-status"][data-state="done"], [data-testid="run-status"][data-state="failed"]',
    { timeout: RUN_TIMEOUT });
  const status = page.locator('[data-testid="run-status"]');
  const text = await status.textContent();
  assert.equal(await status.getAttribute("data-state"), "done", `segmentation failed: ${text}`);
  return {
    wallMs: Date.now() - t0,
    text,
    backend: await status.getAttribute("data-backend"),
    modelLoadMs: Number(await status.getAttribute("data-model-load-ms")),
    inferenceMs: Number(await status.getAttribute("data-inference-ms")),
    largestActivation: Number(await status.getAttribute("data-largest-activation")),
  };
}

// The label volumes (mL) in the legend, background first.
const legendVolumes = (page) =>
  page.$$eval('[data-testid="legend"] [data-testid="ml"]', (cs) => cs.map((c) => Number(c.textContent)));

// The label volumes (mL) the native CLI gives for the sample (`brainfm predict ...extra`),
// checked against the tab's within 2 % (or 0.2 mL); `name` names the artifacts.
function assertCliVolumesMatch(tab, name, extra) {
  const csv = path.join(ARTIFACTS, `${name}-model-native.csv`);
  execFileSync(CLI, ["predict", "--quiet", ...extra, "--input", SAMPLE, "--output",
    path.join(ARTIFACTS, `${name}-native.nii.gz`), "--volumes-csv", csv], { stdio: "pipe" });
  const native = fs.readFileSync(csv, "utf8").trim().split("\n").slice(1).map((r) => Number(r.split(",")[2]));
  assert.equal(native.length, tab.length);
  native.forEach((v, i) => assert.ok(Math.abs(v - tab[i]) <= 0.02 * Math.max(v, 10), `label ${i}: ${tab[i]} mL in the tab vs ${v} mL native`));
  return native;
}

const overlayPixels = (page) => page.$$eval("canvas[data-overlay]", (cs) => cs.map((c) => Number(c.dataset.overlay)));

test("WebGPU: load the app, the sample and a model; segment; export; nothing leaves the tab", { timeout: RUN_TIMEOUT + 300_000 }, async () => {
  const { browser, page, requests, problems } = await open({ webgpu: true });
  try {
    const times = await loadApp(page);
    metrics.webgpu_time_to_interactive_ms = times.interactive;
    metrics.webgpu_compute_ready_ms = times.computeReady;
    const compute = page.locator('[data-testid="compute"]');
    assert.equal(await compute.getAttribute("data-backend"), "webgpu", `expected WebGPU: ${await compute.textContent()}`);
    metrics.webgpu_adapter = await compute.textContent();

    await loadSampleAndModel(page);
    const facts = await page.textContent('[data-testid="facts"]');
    assert.match(facts, /91 × 109 × 91/);
    assert.match(facts, /RAS/);
    // Orientation marks on the axial view.
    const marks = await page.$$eval(".plane .mark", (ms) => ms.map((m) => m.textContent).join(""));
    assert.equal(marks, "LRAPLRSIAPSI");
    assert.deepEqual(await overlayPixels(page), [0, 0, 0]);

    const run = await segment(page);
    assert.equal(run.backend, "webgpu", run.text);
    metrics.webgpu_run_wall_ms = run.wallMs;
    metrics.webgpu_model_load_ms = run.modelLoadMs;
    metrics.webgpu_inference_ms = run.inferenceMs;
    metrics.webgpu_largest_activation_bytes = run.largestActivation;
    metrics.webgpu_status = run.text;
    const overlay = await overlayPixels(page);
    assert.ok(overlay.every((n) => n > 0), `empty overlay in a view: ${overlay}`);
    const ml = await legendVolumes(page);
    assert.equal(ml.length, 4);
    assert.ok(ml.slice(1).some((v) => v > 0), `no tissue volume: ${ml}`);

    // Crosshair: clicking the axial view moves the coronal and sagittal slices.
    const before = await page.textContent(".plane:nth-child(3) figcaption");
    // mouse.click takes viewport coordinates and does not scroll: bring the view in first.
    await page.locator('[data-testid="view-axial"]').scrollIntoViewIfNeeded();
    const box = await page.locator('[data-testid="view-axial"]').boundingBox();
    await page.mouse.click(box.x + box.width * 0.3, box.y + box.height * 0.5);
    assert.notEqual(await page.textContent(".plane:nth-child(3) figcaption"), before);
    // Arrow keys step the axial slice.
    const axial0 = await page.textContent(".plane:nth-child(1) figcaption");
    await page.keyboard.press("ArrowUp");
    assert.notEqual(await page.textContent(".plane:nth-child(1) figcaption"), axial0);

    await page.screenshot({ path: path.join(ARTIFACTS, "webgpu-segmented.png"), fullPage: true });

    // Export: the label map on the input's grid.
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-nifti"]')]);
    const segFile = path.join(ARTIFACTS, "segmentation-webgpu.nii.gz");
    await dl.saveAs(segFile);
    const seg = readNifti(fs.readFileSync(segFile));
    const input = readNifti(fs.readFileSync(SAMPLE));
    assert.deepEqual(seg.dims.slice(0, 3), input.dims.slice(0, 3));
    seg.affine.forEach((v, i) => assert.ok(Math.abs(v - input.affine[i]) < 1e-4, `affine[${i}] ${v} != ${input.affine[i]}`));
    const labels = seg.voxels();
    assert.ok(labels.every((l) => l >= 0 && l < 4), "labels outside 0..3");
    assert.ok(labels.some((l) => l > 0), "segmentation is all background");
    metrics.webgpu_label_counts = [0, 1, 2, 3].map((l) => labels.filter((v) => v === l).length);

    const [csv] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-csv"]')]);
    const csvFile = path.join(ARTIFACTS, "volumes-webgpu.csv");
    await csv.saveAs(csvFile);
    const rows = fs.readFileSync(csvFile, "utf8").trim().split("\n");
    assert.equal(rows[0], "label,name,volume_ml");
    assert.equal(rows.length, 5);
    assert.match(rows[2], /^1,csf,\d+\.\d{3}$/);

    // Against the native CLI on the same bundle and scan (same core pipeline): agreement.
    if (process.env.SKIP_NATIVE !== "1") {
      const nativeFile = path.join(ARTIFACTS, "segmentation-native.nii.gz");
      execFileSync(CLI, ["predict", "--model", bundlePath, "--input", SAMPLE, "--output", nativeFile], { stdio: "pipe" });
      const native = readNifti(fs.readFileSync(nativeFile)).voxels();
      let same = 0;
      for (let i = 0; i < native.length; i++) if (native[i] === labels[i]) same++;
      metrics.webgpu_vs_native_agreement = same / native.length;
      assert.ok(same / native.length > 0.98, `WebGPU and native labels agree on only ${(100 * same / native.length).toFixed(2)} %`);
    }

    assert.deepEqual(problems, [], "console errors or CSP violations");
    assertPrivate(requests);
    metrics.webgpu_requests = requests.map((r) => new URL(r.url).pathname);
  } finally {
    await page.screenshot({ path: path.join(ARTIFACTS, "webgpu-final.png"), fullPage: true }).catch(() => {});
    await browser.close();
  }
});

test("without WebGPU the app takes the CPU path and says so", { timeout: RUN_TIMEOUT + 300_000 }, async () => {
  const { browser, page, requests, problems } = await open({ webgpu: false });
  try {
    const times = await loadApp(page);
    metrics.cpu_time_to_interactive_ms = times.interactive;
    const compute = page.locator('[data-testid="compute"]');
    assert.equal(await compute.getAttribute("data-backend"), "cpu", await compute.textContent());
    const notice = await compute.textContent();
    assert.match(notice, /WebGPU not used/);
    assert.match(notice, /CPU/);
    metrics.cpu_notice = notice;
    // The bundled default model loads by itself; the sample is one click away.
    const info = await page.textContent('[data-testid="model-info"]', { timeout: 60_000 });
    assert.match(info, /default\.bfm \(bundled\)/);
    assert.match(info, /CSF, GM, WM/);
    await page.click('[data-testid="sample"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    const run = await segment(page);
    assert.equal(run.backend, "cpu", run.text);
    metrics.cpu_run_wall_ms = run.wallMs;
    metrics.cpu_model_load_ms = run.modelLoadMs;
    metrics.cpu_inference_ms = run.inferenceMs;
    metrics.cpu_status = run.text;
    assert.ok((await overlayPixels(page)).every((n) => n > 0));
    // The bundled default model in the tab gives the label volumes that the CLI's built-in
    // default model (the same models/default.bfm) gives on the same scan.
    const ml = await legendVolumes(page);
    metrics.cpu_default_model_ml = ml;
    assert.ok(ml.slice(1).some((v) => v > 0), `no tissue: ${ml}`);
    const native = assertCliVolumesMatch(ml, "default", []);
    metrics.cpu_default_model_native_ml = native;
    await page.screenshot({ path: path.join(ARTIFACTS, "cpu-segmented.png"), fullPage: true });
    // The multi-contrast bundled model is one click away and matches the CLI's
    // `--builtin multicontrast` too; the default's button comes back.
    assert.equal(await page.isDisabled('[data-testid="bundled-default"]'), true);
    await page.click('[data-testid="bundled-multicontrast"]');
    await page.waitForSelector('[data-testid="model-info"]:has-text("multicontrast.bfm (bundled)")', { timeout: 60_000 });
    assert.equal(await page.isDisabled('[data-testid="bundled-default"]'), false);
    await segment(page);
    const mcMl = await legendVolumes(page);
    metrics.cpu_multicontrast_model_ml = mcMl;
    const mcNative = assertCliVolumesMatch(mcMl, "multicontrast", ["--builtin", "multicontrast"]);
    metrics.cpu_multicontrast_model_native_ml = mcNative;
    assert.notDeepEqual(mcNative, native, "the two bundled models gave identical volumes");
    // The pick survives a reload: the next visit starts with the multi-contrast model.
    await page.reload();
    await loadApp(page);
    await page.waitForSelector('[data-testid="model-info"]:has-text("multicontrast.bfm (bundled)")', { timeout: 60_000 });
    assert.equal(await page.isDisabled('[data-testid="bundled-multicontrast"]'), true);
    assert.deepEqual(problems, [], "console errors or CSP violations");
    assertPrivate(requests);
  } finally {
    await browser.close();
  }
});

test("cancel stops a run and the page stays usable; a bad file gets a plain error", { timeout: 300_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    await loadApp(page);
    await loadSampleAndModel(page);
    await page.click('[data-testid="run"]');
    await page.waitForSelector('[data-testid="progress"]');
    await page.click('[data-testid="cancel"]');
    await page.waitForSelector('[data-testid="run-status"][data-state="cancelled"]');
    // A fresh worker comes up and the run button works again.
    await page.waitForSelector('[data-testid="compute"][data-backend="cpu"]');
    assert.equal(await page.isEnabled('[data-testid="run"]'), true);
    // Not a NIfTI file.
    const junk = path.join(ARTIFACTS, "junk.nii");
    fs.writeFileSync(junk, "this is not a scan");
    await page.setInputFiles('[data-testid="file"]', junk);
    const err = await page.textContent('[data-testid="error"]', { timeout: 30_000 });
    assert.match(err, /Could not open junk\.nii/);
    // A damaged model bundle.
    const bad = path.join(ARTIFACTS, "bad.bfm");
    const bytes = fs.readFileSync(bundlePath);
    bytes[bytes.length - 10] ^= 0xff;
    fs.writeFileSync(bad, bytes);
    await page.setInputFiles('[data-testid="file"]', bad);
    const merr = await page.textContent('[data-testid="model-error"]', { timeout: 30_000 });
    assert.match(merr, /Could not open bad\.bfm/);
    metrics.bad_bundle_message = merr;
    assert.deepEqual(problems, [], "console errors or CSP violations");
  } finally {
    await browser.close();
  }
});

test("works offline once loaded (service worker)", { timeout: 180_000 }, async () => {
  const { browser, context, page } = await open({ webgpu: false });
  try {
    await loadApp(page);
    // Wait for the service worker and for its install step to have cached the app.
    const cached = await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      for (let i = 0; i < 300; i++) {
        if ((await caches.keys()).length > 0) return true;
        await new Promise((r) => setTimeout(r, 200));
      }
      return false;
    });
    assert.ok(cached, "the service worker cached nothing");
    await context.setOffline(true);
    await page.reload();
    await page.waitForSelector('[data-testid="file"]', { timeout: 60_000 });
    await page.click('[data-testid="sample"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    // The default model comes from the cache too.
    const info = await page.textContent('[data-testid="model-info"]', { timeout: 60_000 });
    assert.match(info, /default\.bfm \(bundled\)/);
    // The teaching views' model, never fetched by the page before, was cached at install.
    await page.click('[data-testid="teach"] summary');
    await page.waitForSelector('[data-testid="teach-model"][data-state="ready"], [data-testid="teach-model"][data-state="failed"]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('[data-testid="teach-model"]', "data-state"), "ready",
      await page.textContent('[data-testid="teach-model"]'));
  } finally {
    await browser.close();
  }
});

/** A 256^3 uint8 NIfTI-1 (.nii): a bright ball in a darker cube, LPS-ish affine. */
function writeBigNifti(file) {
  const n = 256;
  const header = Buffer.alloc(352);
  header.writeInt32LE(348, 0);
  header.writeInt16LE(3, 40);
  [n, n, n, 1, 1, 1, 1].forEach((d, i) => header.writeInt16LE(d, 42 + 2 * i));
  header.writeInt16LE(2, 70); // uint8
  header.writeInt16LE(8, 72);
  [1, 1, 1, 1, 1, 1, 1, 1].forEach((v, i) => header.writeFloatLE(v, 76 + 4 * i));
  header.writeFloatLE(352, 108);
  header.writeInt16LE(1, 254); // sform: scanner
  // Rows of the sform: x = -i, y = -j, z = k (L-P-S storage).
  [[-1, 0, 0, 128], [0, -1, 0, 128], [0, 0, 1, -128]].forEach((row, r) =>
    row.forEach((v, c) => header.writeFloatLE(v, 280 + 16 * r + 4 * c)));
  header.write("n+1\0", 344, "latin1");
  const data = Buffer.alloc(n * n * n);
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const r = Math.hypot(x - 128, y - 128, z - 128);
    data[x + n * (y + n * z)] = r < 80 ? 200 - (r | 0) : (r < 110 ? 40 : 0);
  }
  fs.writeFileSync(file, Buffer.concat([header, data]));
}

test("a 256^3 scan: sliders, keys and window/level stay quick", { timeout: 300_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    await loadApp(page);
    const big = path.join(ARTIFACTS, "ball-256.nii");
    writeBigNifti(big);
    const t0 = Date.now();
    await page.setInputFiles('[data-testid="file"]', big);
    await page.waitForSelector('[data-testid="facts"]', { timeout: 120_000 });
    metrics.big_load_ms = Date.now() - t0;
    assert.match(await page.textContent('[data-testid="facts"]'), /256 × 256 × 256/);
    // Arrow keys: each press must show the next slice; time 20 of them.
    const caption = ".plane:nth-child(1) figcaption";
    await page.focus('[data-testid="view-axial"]');
    const t1 = Date.now();
    for (let i = 0; i < 20; i++) {
      const before = await page.textContent(caption);
      await page.keyboard.press("ArrowUp");
      assert.notEqual(await page.textContent(caption), before);
    }
    metrics.big_ms_per_slice_key = (Date.now() - t1) / 20;
    // The slice slider jumps (the sagittal slice follows its slider).
    await page.fill('[data-testid="slider-sagittal"]', "10");
    assert.match(await page.textContent(".plane:nth-child(3) figcaption"), /slice 11 of 256/);
    // Window/level redraws all three views.
    const t2 = Date.now();
    for (let i = 0; i < 10; i++) await page.fill('[data-testid="level"]', String(20 + 10 * i));
    metrics.big_ms_per_level_change = (Date.now() - t2) / 10;
    await page.screenshot({ path: path.join(ARTIFACTS, "big-256.png"), fullPage: true });
    // "Smooth" on a 2-core machine under load: well under a second per interaction.
    assert.ok(metrics.big_ms_per_slice_key < 500, `slice step ${metrics.big_ms_per_slice_key} ms`);
    assert.ok(metrics.big_ms_per_level_change < 1000, `level change ${metrics.big_ms_per_level_change} ms`);
    assert.deepEqual(problems, [], "console errors or CSP violations");
  } finally {
    await browser.close();
  }
});
