// The teaching views in real headless Chromium (CPU path): the pre-trained model loads
// only when the panel opens; block masking with the model's reconstruction and error map;
// two synthesised contrasts and the cross-contrast swap. Asserts on the canvases' pixels.
//
// Needs: a trunk build in DIST, Chromium at CHROMIUM. Run: scripts/test-browser.sh.
// Metrics land in ARTIFACTS/teach-metrics.json.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ARTIFACTS, assertPrivate, loadApp, open, serve } from "./helpers.mjs";

const TIMEOUT = Number(process.env.TEACH_TIMEOUT_MS ?? 10 * 60 * 1000);
const HIDDEN = [40, 70, 160]; // app/src/teach_render.rs
const metrics = {};
let server;
let origin;

before(async () => ({ server, origin } = await serve()));
after(() => {
  server?.close();
  fs.writeFileSync(path.join(ARTIFACTS, "teach-metrics.json"), JSON.stringify(metrics, null, 2));
  console.log("# teach metrics", JSON.stringify(metrics));
});

/** Pixel facts of the named canvases: size, distinct colours, and for pairs the share of
 *  pixels that differ. Computed in the page (the arrays are large). */
function canvases(page, view, keys) {
  return page.evaluate(([view, keys, hidden]) => {
    const px = {};
    for (const k of keys) {
      const c = document.querySelector(`canvas[data-testid="teach-${view}-${k}"]`);
      px[k] = { w: c.width, h: c.height, d: c.getContext("2d").getImageData(0, 0, c.width, c.height).data };
    }
    const out = {};
    for (const k of keys) {
      const { w, h, d } = px[k];
      const colours = new Set();
      for (let i = 0; i < d.length; i += 4) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      out[k] = { w, h, colours: colours.size };
    }
    const differ = (a, b) => {
      let n = 0;
      for (let i = 0; i < px[a].d.length; i += 4) {
        if (px[a].d[i] !== px[b].d[i] || px[a].d[i + 1] !== px[b].d[i + 1] || px[a].d[i + 2] !== px[b].d[i + 2]) n++;
      }
      return n / (px[a].d.length / 4);
    };
    if (px.masked && px.error) {
      // Hidden voxels are tinted in "what the model sees"; the error map there.
      let hiddenPx = 0, errorThere = 0, errorVisible = 0, visible = 0;
      const { d } = px.masked;
      const e = px.error.d;
      for (let i = 0; i < d.length; i += 4) {
        const isHidden = d[i] === hidden[0] && d[i + 1] === hidden[1] && d[i + 2] === hidden[2];
        const err = e[i] + e[i + 1] + e[i + 2];
        if (isHidden) { hiddenPx++; errorThere += err; } else { visible++; errorVisible += err; }
      }
      out.hiddenFraction = hiddenPx / (d.length / 4);
      out.meanErrorHidden = errorThere / Math.max(1, hiddenPx);
      out.meanErrorVisible = errorVisible / Math.max(1, visible);
      out.reconVsOriginal = differ("reconstruction", "original");
    }
    if (px.a && px.b) {
      out.aVsB = differ("a", "b");
      out.aInBVsA = differ("aInB", "a");
    }
    return out;
  }, [view, keys, HIDDEN]);
}

async function runView(page, view) {
  const t0 = Date.now();
  await page.click(`[data-testid="teach-${view}-run"]`);
  await page.waitForSelector(`[data-testid="teach-${view}-status"][data-state="done"], [data-testid="teach-${view}-status"][data-state="failed"]`,
    { timeout: TIMEOUT });
  const status = page.locator(`[data-testid="teach-${view}-status"]`);
  assert.equal(await status.getAttribute("data-state"), "done", await status.textContent());
  return { ms: Date.now() - t0, status };
}

test("teaching views: masking, reconstruction and error map; synthesised contrasts and the swap", { timeout: 2 * TIMEOUT }, async () => {
  const { browser, page, requests, problems } = await open({ webgpu: false });
  try {
    await loadApp(page, origin);
    await page.click('[data-testid="sample"]');
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    // The pre-trained model is not fetched by the page until the panel opens (the service
    // worker may cache it in the background; its requests are not the page's).
    const pageFetched = () => requests.filter((r) => !r.fromServiceWorker && r.url.endsWith("/models/pretrained.bfm")).length;
    assert.equal(pageFetched(), 0, "the page fetched the pre-trained model at start");
    assert.equal(await page.getAttribute('[data-testid="teach-model"]', "data-state"), "none");
    await page.click('[data-testid="teach"] summary');
    await page.waitForSelector('[data-testid="teach-model"][data-state="ready"], [data-testid="teach-model"][data-state="failed"]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('[data-testid="teach-model"]', "data-state"), "ready", await page.textContent('[data-testid="teach-model"]'));
    assert.equal(pageFetched(), 1);

    // (a) Masking at the default 60 %, 4-voxel cubes.
    const mask = await runView(page, "mask");
    metrics.mask_ms = mask.ms;
    metrics.mask_status = await mask.status.textContent();
    const m = await canvases(page, "mask", ["original", "masked", "reconstruction", "error"]);
    metrics.mask_pixels = m;
    for (const k of ["original", "masked", "reconstruction", "error"]) {
      assert.ok(m[k].w >= 64 && m[k].h >= 64, `${k}: ${m[k].w}x${m[k].h}`);
      assert.ok(m[k].colours > 10, `${k} is (nearly) constant: ${m[k].colours} colours`);
    }
    assert.ok(m.hiddenFraction > 0.45 && m.hiddenFraction < 0.75, `hidden share of the slice ${m.hiddenFraction}`);
    assert.ok(m.meanErrorHidden > 0, "the error map is zero where the scan was hidden");
    assert.ok(m.reconVsOriginal > 0.5, "the reconstruction is a copy of the original");
    assert.ok(Number(await mask.status.getAttribute("data-masked-error")) > 0);

    // The user's ratio and cube size are used.
    await page.fill('[data-testid="teach-ratio"]', "0.25");
    await page.selectOption('[data-testid="teach-block"]', "8");
    await runView(page, "mask");
    const m2 = await canvases(page, "mask", ["original", "masked", "reconstruction", "error"]);
    metrics.mask_pixels_25 = m2;
    assert.ok(m2.hiddenFraction > 0.05 && m2.hiddenFraction < 0.45, `hidden share at 25 %: ${m2.hiddenFraction}`);
    await page.screenshot({ path: path.join(ARTIFACTS, "teach-mask.png"), fullPage: true });

    // (b) Contrasts synthesised from the default model's segmentation, then the swap.
    await page.click('[data-testid="run"]');
    await page.waitForSelector('[data-testid="run-status"][data-state="done"], [data-testid="run-status"][data-state="failed"]', { timeout: TIMEOUT });
    assert.equal(await page.getAttribute('[data-testid="run-status"]', "data-state"), "done");
    const swap = await runView(page, "swap");
    metrics.swap_ms = swap.ms;
    metrics.swap_status = await swap.status.textContent();
    const s = await canvases(page, "swap", ["a", "b", "aInB", "error"]);
    metrics.swap_pixels = s;
    for (const k of ["a", "b", "aInB", "error"]) assert.ok(s[k].colours > 10, `${k} is (nearly) constant: ${s[k].colours} colours`);
    assert.ok(s.aVsB > 0.2, `A and B look the same: ${s.aVsB}`);
    assert.ok(s.aInBVsA > 0.2, `the swap is a copy of A: ${s.aInBVsA}`);
    assert.ok(Number.isFinite(Number(await swap.status.getAttribute("data-swap-vs-b"))));
    // A plain-language explanation beside every picture.
    const explained = await page.$$eval('[data-testid="teach"] .teach-figure', (fs) => fs.map((f) => f.querySelector(".explain")?.textContent.length ?? 0));
    assert.equal(explained.length, 8);
    assert.ok(explained.every((n) => n > 40), `explanations: ${explained}`);
    await page.screenshot({ path: path.join(ARTIFACTS, "teach-swap.png"), fullPage: true });
    assert.deepEqual(problems, [], "console errors or CSP violations");
    assertPrivate(requests, origin);
  } finally {
    await browser.close();
  }
});
