// Scans other than NIfTI in headless Chromium (CPU path): a FreeSurfer .mgz opens; the
// files of a DICOM folder holding two series offer a choice, the chosen series opens on
// its own grid and segments to the same labels as the CLI on the same folder; the folder
// picker takes the folder itself; a compressed syntax the reader cannot decode is refused
// by name.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { readNifti } from "./nifti.mjs";
import { ARTIFACTS, CLI, loadApp, open, root, serve, tinyBundle } from "./helpers.mjs";

const FIXTURES = path.join(root, "core/src/volume/dicom/fixtures");
let server;
let origin;
let bundlePath;

before(async () => {
  bundlePath = tinyBundle("tiny-formats.bfm");
  ({ server, origin } = await serve());
});

after(() => server?.close());

const facts = (page) => page.textContent('[data-testid="facts"]');

test("a FreeSurfer .mgz opens as a scan", { timeout: 300_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    await loadApp(page, origin);
    await page.setInputFiles('[data-testid="file"]', path.join(root, "core/src/volume/mgh/fixtures/oblique_int16.mgz"));
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    const text = await facts(page);
    assert.ok(text.includes("7 × 6 × 5 voxels") && text.includes("0.9 × 1.1 × 3 mm"), text);
    assert.ok(text.includes("FreeSurfer MGH, gzip-compressed"), text);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test("DICOM: two series to pick from; the chosen one segments as the CLI segments it", { timeout: 600_000 }, async () => {
  const { browser, page, problems, requests } = await open({ webgpu: false });
  try {
    await loadApp(page, origin);
    const series = path.join(FIXTURES, "series");
    const files = fs.readdirSync(series).sort().map((f) => path.join(series, f));
    await page.setInputFiles('[data-testid="file"]', files);
    await page.waitForSelector('[data-testid="dicom-series"]:not([hidden])', { timeout: 60_000 });
    const labels = await page.locator('[data-testid="dicom-series"] button').allTextContents();
    assert.deepEqual(labels, ["1 oblique t1 (MR, 12 slices of 24 x 20)", "2 sagittal localiser (MR, 6 slices of 16 x 14)"]);
    await page.click('[data-testid="dicom-series-0"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    const text = await facts(page);
    assert.ok(text.includes("24 × 20 × 12 voxels") && text.includes("DICOM series of 12 files"), text);
    await page.setInputFiles('[data-testid="file"]', bundlePath);
    await page.waitForSelector('[data-testid="model-info"]', { timeout: 60_000 });
    await page.click('[data-testid="run"]');
    await page.waitForSelector('[data-testid="run-status"][data-state="done"]', { timeout: 300_000 });
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-nifti"]')]);
    const exported = path.join(ARTIFACTS, "dicom-seg.nii.gz");
    await dl.saveAs(exported);
    const web = readNifti(fs.readFileSync(exported));
    // The CLI on the same folder and bundle: the same grid and, to float noise, the same labels.
    const out = path.join(ARTIFACTS, "dicom-cli");
    fs.rmSync(out, { recursive: true, force: true });
    execFileSync(CLI, ["predict", "--quiet", "--model", bundlePath, "--input", series, "--output", out], { stdio: "pipe" });
    const native = readNifti(fs.readFileSync(path.join(out, "S001_oblique_t1_seg.nii.gz")));
    assert.deepEqual(web.dims.slice(0, 3), [24, 20, 12]);
    web.affine.forEach((v, i) => assert.ok(Math.abs(v - native.affine[i]) < 1e-4, `affine[${i}] ${v} vs ${native.affine[i]}`));
    const a = web.voxels(), b = native.voxels();
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    assert.ok(same / a.length > 0.98, `the tab and the CLI agree on ${(100 * same / a.length).toFixed(1)} % of voxels`);

    // The second series, from the same list.
    await page.click('[data-testid="dicom-series-1"]');
    // Selectors, not waitForFunction: the page's CSP forbids the eval that the latter needs.
    await page.waitForSelector('[data-testid="facts"]:has-text("16 × 14 × 6")', { timeout: 60_000 });
    assert.ok((await facts(page)).includes("16 × 14 × 6 voxels"));
    assert.deepEqual(problems, [], "console errors or CSP violations");
    assert.ok(requests.every((r) => !r.url.includes("S1IM")), "a DICOM file left the tab");
  } finally {
    await browser.close();
  }
});

test("DICOM: the folder picker takes a folder; an undecodable syntax is refused by name", { timeout: 300_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    await loadApp(page, origin);
    await page.setInputFiles('[data-testid="dicom-folder"]', path.join(FIXTURES, "gap"));
    await page.waitForSelector('[data-testid="error"]', { timeout: 60_000 });
    const gap = await page.textContent('[data-testid="error"]');
    assert.ok(gap.includes("not evenly spaced"), gap);
    await page.setInputFiles('[data-testid="file"]', path.join(FIXTURES, "mr_small_jpeg2000.dcm"));
    await page.waitForSelector('[data-testid="error"]:has-text("JPEG 2000")', { timeout: 60_000 });
    const refused = await page.textContent('[data-testid="error"]');
    assert.ok(refused.includes("JPEG 2000 Lossless"), refused);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
