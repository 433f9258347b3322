// The static server of `make serve`, the end-to-end tests and the browser benchmark: serves the
// repository root on 127.0.0.1 the way a static host should, so the bytes measured are the
// bytes a visitor downloads:
// - precompressed files (`x.br`, `x.gz` next to `x`, written by tools/compress.mjs at build
//   time) when the browser accepts them, with `Vary: Accept-Encoding`;
// - the right Content-Type, `application/wasm` above all (streaming compilation needs it);
// - `Cache-Control: no-cache` with an ETag: browsers revalidate and get 304 when unchanged (the
//   file names carry no hash); the service worker (www/sw.js) keeps the offline copy.
// Usage: node tools/static-server.mjs [PORT]
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const port = Number(process.argv[2] ?? 8080);

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.bpk': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};
/** Encodings we may have precompressed, best first. */
const ENCODINGS = [['br', '.br'], ['gzip', '.gz']];

function fileOf(urlPath) {
  let path;
  try {
    path = normalize(join(root, decodeURIComponent(urlPath.split('?')[0])));
  } catch {
    return null;
  }
  if (path !== root && !path.startsWith(root + sep)) return null;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) return fileOf(`${urlPath.replace(/\/?$/, '/')}index.html`);
    return stat.isFile() ? { path, stat } : null;
  } catch {
    return null;
  }
}

function precompressed(file, acceptEncoding) {
  for (const [encoding, suffix] of ENCODINGS) {
    if (!new RegExp(`\\b${encoding}\\b`).test(acceptEncoding)) continue;
    try {
      const stat = statSync(file.path + suffix);
      if (stat.mtimeMs >= file.stat.mtimeMs) return { encoding, path: file.path + suffix, stat };
    } catch { /* not precompressed */ }
  }
  return null;
}

const server = createServer((request, response) => {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const file = fileOf(new URL(request.url, 'http://localhost').pathname);
  if (!file) {
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  const body = precompressed(file, request.headers['accept-encoding'] ?? '') ?? { path: file.path, stat: file.stat };
  const etag = `"${body.stat.size.toString(16)}-${Math.round(body.stat.mtimeMs).toString(16)}${body.encoding ? `-${body.encoding}` : ''}"`;
  const headers = {
    'Content-Type': TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream',
    'Cache-Control': 'no-cache',
    ETag: etag,
    Vary: 'Accept-Encoding',
    'X-Content-Type-Options': 'nosniff',
  };
  if (request.headers['if-none-match'] === etag) {
    response.writeHead(304, headers).end();
    return;
  }
  if (body.encoding) headers['Content-Encoding'] = body.encoding;
  headers['Content-Length'] = body.stat.size;
  response.writeHead(200, headers);
  if (request.method === 'HEAD') response.end();
  else createReadStream(body.path).pipe(response);
});

server.listen(port, '127.0.0.1', () => console.log(`serving ${root} at http://127.0.0.1:${port}/`));
