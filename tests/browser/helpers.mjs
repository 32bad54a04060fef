// Shared by the browser tests: paths from the environment, the static server for the trunk
// build (scripts/static-server.mjs, the one serve.sh uses), a headless Chromium page that records console errors and requests, and the
// privacy check (nothing leaves the page's origin).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
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
/** Serve DIST on a free localhost port; resolves to { server, origin }. */
export function serve() {
  assert.ok(fs.existsSync(path.join(DIST, "index.html")), `no build in ${DIST}: run trunk build first`);
  return serveDir(DIST);
}

/** A browser and page that record every request and every console error. */
export async function open({ webgpu }) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: webgpu ? [...FLAGS, "--enable-unsafe-webgpu"] : FLAGS,
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 1100 } });
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
