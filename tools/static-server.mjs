// The static server of `make serve`, `make site`'s check, the end-to-end tests and the browser
// benchmark: serves a folder on 127.0.0.1 the way a static host should, so the bytes measured
// are the bytes a visitor downloads:
// - precompressed files (`x.br`, `x.gz` next to `x`, written by tools/compress.mjs at build
//   time) when the browser accepts them, with `Vary: Accept-Encoding`;
// - the right Content-Type, `application/wasm` above all (streaming compilation needs it);
// - `Cache-Control: no-cache` with an ETag: browsers revalidate and get 304 when unchanged (the
//   file names carry no hash); the service worker (sw.js) keeps the offline copy;
// - cross-origin isolation (COOP `same-origin`, COEP `require-corp`), which lets the page run the
//   threaded CPU module (shared wasm memory).
// Options: `--root DIR` (default: the repository), `--base /sub/path/` (serve the folder under a
// sub-path, as a project site is), `--cors` (any origin may load the files: a CDN's headers),
// `--isolation off` (no COOP/COEP: a host that cannot send them).
// Usage: node tools/static-server.mjs [PORT] [--root DIR] [--base PATH] [--cors] [--isolation on|off]
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { Transform, pipeline } from 'node:stream';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPOSITORY = resolve(fileURLToPath(new URL('..', import.meta.url)));

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
/** What makes a page cross-origin isolated (sw.js adds the same where a host cannot send them). */
export const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
/** Encodings we may have precompressed, best first. */
const ENCODINGS = [['br', '.br'], ['gzip', '.gz']];

/** The path `urlPath` names inside `root`, or null (undecodable, or outside the root). */
function pathOf(root, urlPath) {
  let path;
  try {
    path = normalize(join(root, decodeURIComponent(urlPath)));
  } catch {
    return null;
  }
  return path === root || path.startsWith(root + sep) ? path : null;
}

function fileOf(root, urlPath) {
  const path = pathOf(root, urlPath);
  if (!path) return null;
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) return fileOf(root, `${urlPath.replace(/\/?$/, '/')}index.html`);
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

/** The part of `pathname` below `base`, or null when it lies outside (then: 404). */
function below(base, pathname) {
  return pathname.startsWith(base) ? pathname.slice(base.length - 1) : null;
}

/** A folder asked for without its final slash: where to redirect, as static hosts do (relative URLs need the slash). */
function folderRedirect(root, base, pathname) {
  if (pathname.endsWith('/')) return null;
  const inside = below(base, `${pathname}/`);
  const path = inside === null ? null : pathOf(root, inside);
  if (!path) return null;
  try {
    return statSync(path).isDirectory() ? `${pathname}/` : null;
  } catch {
    return null;
  }
}

/**
 * A static server of `root` under `base` (ends with '/'). `cors`: adds the headers a CDN sends,
 * so pages on other origins can import the scripts and fetch the wasm. `isolated`: sends the
 * headers that make a page cross-origin isolated (every response: workers need them too). `onRequest({ path, file,
 * bytes })` hears every request (the file served or null, the body's bytes on the wire), for
 * tests that check what a page downloaded. `link` ({ latencyMs, bitsPerSecond }) serves through
 * a slow link shared by every response (see `sharedLink`).
 */
export function staticServer({ root = REPOSITORY, base = '/', cors = false, isolated = true, onRequest, link = null } = {}) {
  root = resolve(root);
  const slow = link ? sharedLink(link) : null;
  return createServer(async (request, response) => {
    if (slow) await slow.latency();
    const common = {
      ...(cors ? { 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' } : {}),
      ...(isolated ? ISOLATION_HEADERS : {}),
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { ...common, Allow: 'GET, HEAD' }).end();
      return;
    }
    const pathname = new URL(request.url, 'http://localhost').pathname;
    const redirect = folderRedirect(root, base, pathname);
    if (redirect) {
      response.writeHead(301, { ...common, Location: redirect }).end();
      return;
    }
    const inside = below(base, pathname);
    const file = inside === null ? null : fileOf(root, inside);
    if (!file) {
      onRequest?.({ path: pathname, file: null, bytes: 0 });
      response.writeHead(404, { ...common, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    const body = precompressed(file, request.headers['accept-encoding'] ?? '') ?? { path: file.path, stat: file.stat };
    const etag = `"${body.stat.size.toString(16)}-${Math.round(body.stat.mtimeMs).toString(16)}${body.encoding ? `-${body.encoding}` : ''}"`;
    const headers = {
      ...common,
      'Content-Type': TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream',
      'Cache-Control': 'no-cache',
      ETag: etag,
      Vary: 'Accept-Encoding',
      'X-Content-Type-Options': 'nosniff',
    };
    const fresh = request.headers['if-none-match'] === etag;
    onRequest?.({ path: pathname, file: file.path, bytes: fresh || request.method === 'HEAD' ? 0 : body.stat.size });
    if (fresh) {
      response.writeHead(304, headers).end();
      return;
    }
    if (body.encoding) headers['Content-Encoding'] = body.encoding;
    headers['Content-Length'] = body.stat.size;
    response.writeHead(200, headers);
    if (request.method === 'HEAD') response.end();
    else if (slow) slow.send(createReadStream(body.path, { highWaterMark: 16 * 1024 }), response);
    else createReadStream(body.path).pipe(response);
  });
}

/**
 * A link of `bitsPerSecond` shared by every response, each answered `latencyMs` late: a phone's
 * connection, applied where nothing escapes it. (DevTools throttling of a page misses its
 * workers' requests, which download the runtime.) Chunks take turns, so parallel downloads
 * share the bandwidth.
 */
function sharedLink({ latencyMs, bitsPerSecond }) {
  let freeAt = 0;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  return {
    latency: () => sleep(latencyMs),
    /** Pipes `stream` to `response` at the link's pace; a client that goes away ends both. */
    send(stream, response) {
      const pace = new Transform({
        transform(chunk, encoding, done) {
          freeAt = Math.max(freeAt, performance.now()) + (chunk.length * 8000) / bitsPerSecond;
          sleep(freeAt - performance.now()).then(() => done(null, chunk));
        },
      });
      pipeline(stream, pace, response, () => {}); // errors and aborts destroy all three
    },
  };
}

/**
 * A `staticServer(options)` on a free port of 127.0.0.1 that records every request (`{ path,
 * file, bytes }`), for tests and benchmarks that check what a page downloaded. Resolves with
 * `{ url, requests, bytes(), close() }`.
 */
export async function recordingServer(options = {}) {
  const requests = [];
  const server = staticServer({ ...options, onRequest: (request) => requests.push(request) });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    requests,
    bytes: () => requests.reduce((sum, request) => sum + request.bytes, 0),
    close: () => server.close(),
  };
}

/** `base` as a path that starts and ends with '/'. */
export const basePath = (base) => `/${base.replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      root: { type: 'string' }, base: { type: 'string', default: '/' }, cors: { type: 'boolean', default: false },
      isolation: { type: 'string', default: 'on' },
    },
  });
  const port = Number(positionals[0] ?? 8080);
  const root = values.root ? resolve(values.root) : REPOSITORY;
  const base = basePath(values.base);
  if (!['on', 'off'].includes(values.isolation)) throw new Error(`--isolation must be on or off, not ${values.isolation}`);
  staticServer({ root, base, cors: values.cors, isolated: values.isolation === 'on' })
    .listen(port, '127.0.0.1', () => console.log(`serving ${root} at http://127.0.0.1:${port}${base}`));
}
