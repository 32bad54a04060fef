// A static file server for a trunk build: what scripts/serve.sh runs (the main job) and what
// the browser tests serve the app with, so both see the same MIME types and headers.
// Trunk's own `serve` rebuilds (and re-runs wasm-opt -Oz) on every start; this does not.
//
//   node scripts/static-server.mjs DIR [PORT] [ADDRESS]
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".css": "text/css", ".gz": "application/gzip",
  ".md": "text/markdown; charset=utf-8", ".json": "application/json",
  ".bfm": "application/octet-stream",
};

/** Serve `dir` on `address:port` (port 0: a free one); resolves to { server, origin }. */
export function serveDir(dir, { port = 0, address = "127.0.0.1" } = {}) {
  const rootDir = path.resolve(dir);
  if (!fs.existsSync(path.join(rootDir, "index.html"))) {
    throw new Error(`no build in ${rootDir} (index.html missing): run trunk build first`);
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    let file;
    try {
      file = path.normalize(path.join(rootDir, decodeURIComponent(url.pathname)));
    } catch {
      res.writeHead(400).end("bad request");
      return;
    }
    if (file !== rootDir && !file.startsWith(rootDir + path.sep)) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    if (!fs.existsSync(file)) { res.writeHead(404).end("not found"); return; }
    // no-cache: the browser revalidates, so a rebuilt app is picked up at once (the service
    // worker is network-first for the same reason).
    res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Cache-Control": "no-cache" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      resolve({ server, origin: `http://${address === "127.0.0.1" ? "localhost" : address}:${server.address().port}` });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir, port = "8080", address = "127.0.0.1"] = process.argv.slice(2);
  if (!dir) {
    console.error("usage: node scripts/static-server.mjs DIR [PORT] [ADDRESS]");
    process.exit(2);
  }
  serveDir(dir, { port: Number(port), address }).then(
    ({ origin }) => console.log(`serving ${path.resolve(dir)} on ${origin}/ (Ctrl-C to stop)`),
    (err) => { console.error(`could not serve ${dir}: ${err.message}`); process.exit(1); },
  );
}
