// Shared by the browser tests: paths from the environment, a static server for the trunk
// build, a headless Chromium page that records console errors and requests, and the
// privacy check (nothing leaves the page's origin).
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../..");
export const DIST = path.resolve(process.env.DIST ?? path.join(root, "dist"));
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
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".css": "text/css", ".gz": "application/gzip",
  ".md": "text/markdown; charset=utf-8", ".json": "application/json",
};

/** Serve DIST on a free localhost port; resolves to { server, origin }. */
export function serve() {
  assert.ok(fs.existsSync(path.join(DIST, "index.html")), `no build in ${DIST}: run trunk build first`);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    let file = path.normalize(path.join(DIST, decodeURIComponent(url.pathname)));
    if (!file.startsWith(DIST)) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    if (!fs.existsSync(file)) { res.writeHead(404).end("not found"); return; }
    res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Cache-Control": "no-cache" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    resolve({ server, origin: `http://localhost:${server.address().port}` });
  }));
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
