// Correcting labels by hand in headless Chromium (CPU path): a brush stroke on the axial
// view changes the exported label map in that slice, around the click, and nowhere else;
// undo gives back the model's file exactly, redo the edit; the eraser paints background;
// the volumes table follows. Also: "Copy diagnostics" reports the device and the model but
// not the scan's name.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { readNifti } from "./nifti.mjs";
import { ARTIFACTS, loadApp, open, serve, tinyBundle } from "./helpers.mjs";

let server;
let origin;
let bundlePath;

before(async () => {
  bundlePath = tinyBundle("tiny-edit.bfm");
  ({ server, origin } = await serve());
});

after(() => server?.close());

async function exportLabels(page, name) {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-nifti"]')]);
  const file = path.join(ARTIFACTS, name);
  await dl.saveAs(file);
  return readNifti(fs.readFileSync(file)).voxels();
}

async function exportCsv(page) {
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click('[data-testid="export-csv"]')]);
  const file = path.join(ARTIFACTS, "volumes-edited.csv");
  await dl.saveAs(file);
  return fs.readFileSync(file, "utf8").trim().split("\n").slice(1).map((r) => Number(r.split(",").at(-1)));
}

const changed = async (page) => Number(await page.getAttribute('[data-testid="edit-status"]', "data-changed"));

test("a brush stroke changes the exported labels where drawn and nowhere else; undo, redo, eraser", { timeout: 900_000 }, async () => {
  const { browser, page, problems } = await open({ webgpu: false });
  try {
    await loadApp(page, origin);
    await page.click('[data-testid="sample"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    await page.setInputFiles('[data-testid="file"]', bundlePath);
    await page.waitForSelector('[data-testid="model-info"]', { timeout: 60_000 });
    await page.click('[data-testid="run"]');
    await page.waitForSelector('[data-testid="run-status"][data-state="done"]', { timeout: 600_000 });
    const original = await exportLabels(page, "edit-original.nii.gz");
    const [nx, ny] = [91, 109];
    const at = (i, j, k) => i + nx * (j + ny * k);
    // The crosshair starts at the centre voxel (45, 54, 45); the sample is RAS, so the
    // display grid is the file's grid. Paint the label least present around it.
    const counts = [0, 0, 0, 0];
    for (let dj = -2; dj <= 2; dj++) for (let di = -2; di <= 2; di++) counts[original[at(45 + di, 54 + dj, 45)]]++;
    const label = [1, 2, 3].sort((a, b) => counts[a] - counts[b])[0];

    await page.check('[data-testid="edit-on"]');
    await page.selectOption('[data-testid="edit-label"]', String(label));
    await page.locator('[data-testid="edit-radius"]').fill("4");
    // Locator clicks land on the view's centre wherever the page has scrolled.
    const axial = page.locator('[data-testid="view-axial"]');
    await axial.click();
    await page.waitForSelector('[data-testid="undo"]:not([disabled])');
    const painted = await changed(page);
    assert.ok(painted > 0, "the stroke changed nothing");
    const edited = await exportLabels(page, "edit-stroke.nii.gz");
    const diff = [];
    for (let n = 0; n < edited.length; n++) if (edited[n] !== original[n]) diff.push(n);
    assert.equal(diff.length, painted, "the page's count and the file disagree");
    // A 4 mm brush on 2 mm voxels covers 13 voxels of one axial slice around the centre.
    assert.ok(diff.length <= 13, `${diff.length} voxels changed`);
    for (const n of diff) {
      const [i, j, k] = [n % nx, Math.floor(n / nx) % ny, Math.floor(n / (nx * ny))];
      assert.equal(k, 45, `voxel (${i}, ${j}, ${k}) is outside the drawn slice`);
      assert.ok((2 * (i - 45)) ** 2 + (2 * (j - 54)) ** 2 <= 36, `voxel (${i}, ${j}) is far from the click`);
      assert.equal(edited[n], label);
    }
    // The volumes table follows the edit: the painted label's volume in mL = voxels x 0.008.
    const ml = await exportCsv(page);
    const count = edited.filter((v) => v === label).length;
    assert.ok(Math.abs(ml[label] - count * 0.008) < 0.001, `CSV ${ml[label]} mL vs ${count} voxels`);

    await page.click('[data-testid="undo"]');
    assert.equal(await changed(page), 0);
    assert.deepEqual(await exportLabels(page, "edit-undone.nii.gz"), original, "undo is not exact");
    // Redo from the keyboard on the view.
    await page.focus('[data-testid="view-axial"]');
    await page.keyboard.press("Control+y");
    assert.equal(await changed(page), painted);
    assert.deepEqual(await exportLabels(page, "edit-redone.nii.gz"), edited);

    await page.check('[data-testid="edit-eraser"]');
    await axial.click();
    const erased = await exportLabels(page, "edit-erased.nii.gz");
    for (const n of diff) assert.equal(erased[n], 0, "the eraser left a label");
    for (let n = 0; n < erased.length; n++) {
      if (erased[n] !== original[n] && !diff.includes(n)) {
        const [i, j, k] = [n % nx, Math.floor(n / nx) % ny, Math.floor(n / (nx * ny))];
        assert.ok(k === 45 && erased[n] === 0 && (2 * (i - 45)) ** 2 + (2 * (j - 54)) ** 2 <= 36, `erased (${i}, ${j}, ${k})`);
      }
    }
    // Editing off: a click moves the crosshair again and paints nothing.
    await page.uncheck('[data-testid="edit-on"]');
    const before = await changed(page);
    const box = await axial.boundingBox();
    await axial.click({ position: { x: box.width / 4, y: box.height / 4 } });
    assert.equal(await changed(page), before);
    await page.screenshot({ path: path.join(ARTIFACTS, "edited.png"), fullPage: true });

    // Diagnostics: device, model and run; never the scan's name.
    await page.click('[data-testid="copy-diagnostics"]');
    await page.waitForSelector('[data-testid="diagnostics"]:not([hidden])');
    const report = await page.inputValue('[data-testid="diagnostics"]');
    fs.writeFileSync(path.join(ARTIFACTS, "diagnostics.txt"), report);
    for (const want of ["brainfm web app", "[Browser]", "HeadlessChrome", "Backend: CPU", "[Model]", "tiny preset", "Segmentation: done", "Scan grid: [91, 109, 91]"]) {
      assert.ok(report.includes(want), `diagnostics lack ${want}:\n${report}`);
    }
    assert.ok(!/colin27/i.test(report), `diagnostics name the scan:\n${report}`);
    assert.deepEqual(problems, [], "console errors or CSP violations");
  } finally {
    await browser.close();
  }
});
