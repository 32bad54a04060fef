// Shared by the browser tests: paths from the environment, the static server for the trunk
// build (scripts/static-server.mjs, the one serve.sh uses), a headless Chromium page that records console errors and requests, and the
// privacy check (nothing leaves the page's origin).
import assert from "node:assert/strict";
import fs from "node:fs";
import { execFileSync } from "node:child_process";
import zlib from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { readNifti } from "./nifti.mjs";
import { serveDir } from "../../scripts/static-server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const DIST = path.resolve(process.env.DIST ?? path.join(root, "dist-test"));
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const CLI = process.env.BRAINFM_CLI ?? "/root/.cache/brainfm-target/debug/brainfm";
export const ARTIFACTS = path.resolve(process.env.ARTIFACTS ?? path.join(here, "artifacts"));
export const SAMPLE = path.join(root, "www/sample/colin27_t1_2mm.nii.gz");

fs.mkdirSync(ARTIFACTS, { recursive: true });

const FLAGS = [
  "--headless=new", "--no-sandbox", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only",
];
/** A random-weight tiny bundle (CSF/GM/WM, 2 mm, patch 48, seed 7) from the CLI, for the
 *  tests that need a model but not a trained one; returns its path in ARTIFACTS. */
export function tinyBundle(name) {
  const file = path.join(ARTIFACTS, name);
  execFileSync(CLI, ["init", "--preset", "tiny", "--classes", "background,csf,gm,wm", "--spacing", "2",
    "--patch", "48", "--seed", "7", "--output", file], { stdio: "pipe" });
  return file;
}

/** Serve DIST on a free localhost port; resolves to { server, origin }. */
export function serve() {
  assert.ok(fs.existsSync(path.join(DIST, "index.html")), `no build in ${DIST}: run trunk build first`);
  return serveDir(DIST);
}

/** A browser and page that record every request and every console error. `serviceWorkers:
 *  "block"` keeps the app's offline service worker out, so that `context.route` sees every
 *  request. */
export async function open({ webgpu, serviceWorkers = "allow" }) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: webgpu ? [...FLAGS, "--enable-unsafe-webgpu"] : FLAGS,
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1100 }, serviceWorkers });
  const requests = [];
  context.on("request", (r) => requests.push({
    url: r.url(), method: r.method(), body: r.postData(), fromServiceWorker: Boolean(r.serviceWorker?.()),
  }));
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" || /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  return { browser, context, page, requests, problems };
}

/** Every request went to `origin`, as a GET without a body. */
export function assertPrivate(requests, origin) {
  assert.ok(requests.length > 0, "no requests were recorded");
  for (const r of requests) {
    const u = new URL(r.url);
    if (u.protocol === "blob:" || u.protocol === "data:") continue;
    assert.equal(u.origin, origin, `request to another origin: ${r.method} ${r.url}`);
    assert.ok(!r.body, `request with a body: ${r.method} ${r.url}`);
    assert.equal(r.method, "GET", `non-GET request: ${r.method} ${r.url}`);
  }
}

/** Open the app and wait for its compute worker; times in ms. */
export async function loadApp(page, origin) {
  const t0 = Date.now();
  await page.goto(origin + "/");
  await page.waitForSelector('[data-testid="file"]');
  const interactive = Date.now() - t0;
  // Selectors, not waitForFunction: the page's CSP forbids the eval that the latter needs.
  await page.waitForSelector('[data-testid="compute"][data-backend]:not([data-backend=""])', { timeout: 120_000 });
  return { interactive, computeReady: Date.now() - t0 };
}

/** A uint8 label map on the sample's grid: 1 where the (gzipped) sample is brighter than
 *  the mean of its non-zero voxels (roughly white matter), 0 elsewhere. */
export function writeLabelMap(file) {
  const raw = zlib.gunzipSync(fs.readFileSync(SAMPLE));
  const img = readNifti(raw);
  const v = img.voxels();
  let sum = 0, n = 0;
  for (const x of v) if (x > 0) { sum += x; n++; }
  const thr = sum / n;
  const header = Buffer.from(raw.subarray(0, 352));
  header.writeInt16LE(2, 70); // datatype uint8
  header.writeInt16LE(8, 72); // bitpix
  header.writeFloatLE(352, 108); // vox_offset
  header.writeFloatLE(1, 112); // scl_slope
  header.writeFloatLE(0, 116); // scl_inter
  header.writeFloatLE(1, 124); // cal_max
  header.writeFloatLE(0, 128); // cal_min
  const data = Buffer.alloc(v.length);
  let fg = 0;
  for (let i = 0; i < v.length; i++) if (v[i] > thr) { data[i] = 1; fg++; }
  fs.writeFileSync(file, zlib.gzipSync(Buffer.concat([header, data])));
  return fg / v.length;
}
