// Where the module's files come from: each named by a literal URL beside this file (bundlers
// follow them), or moved by `create({ assetsUrl, workerUrl, wasm, weights })`, read here only.
import { ERROR_CODES, codedError } from './secnn-protocol.js';

const DEFAULT_WEIGHTS = new URL('./model/secnn-cifar10.bpk', import.meta.url).href;
/** This file's own URL, kept out of the literal `new URL(…, import.meta.url)` form bundlers rewrite. */
export const HERE = import.meta.url;

/** `url` resolved against the page (the worker would resolve it against its own location). */
export function absolute(url) {
  return new URL(url, globalThis.document?.baseURI ?? globalThis.location?.href).href;
}

/** True for an http(s) URL of another origin than the page's (a CDN). */
export function isCrossOrigin(url) {
  const { protocol, origin } = new URL(url, globalThis.location?.href);
  return /^https?:$/.test(protocol) && typeof location !== 'undefined' && origin !== location.origin;
}

/**
 * A worker script URL this page may start: a module worker must come from the page's own origin,
 * so one on a CDN is started through a same-origin blob stub that imports it (a page's CSP then
 * needs `worker-src blob:` and the CDN's origin).
 */
export function startableUrl(url) {
  if (!isCrossOrigin(url)) return url;
  const stub = new Blob([`import ${JSON.stringify(url)};\n`], { type: 'text/javascript' });
  return URL.createObjectURL(stub);
}

/** A module worker from `url`, which may be on another origin (a CDN). */
export const movedWorker = (url) => new Worker(startableUrl(url), { type: 'module' });

const isBytes = (value) => value instanceof ArrayBuffer || value instanceof Uint8Array;

/** A `.wasm` override: a URL (made absolute), the module's bytes, or it compiled (a WebAssembly.Module), or a promise of one. */
function wasmSource(value, name) {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Promise) {
    const settled = value.then((resolved) => wasmSource(resolved, name));
    settled.catch(() => {}); // a build never loaded must not report its rejection as unhandled
    return settled;
  }
  if (isBytes(value) || value instanceof WebAssembly.Module) return value;
  if (typeof value === 'string' || value instanceof URL) return absolute(value);
  throw codedError(`create: wasm.${name} must be a URL, the bytes of secnn_bg.wasm (ArrayBuffer or Uint8Array) or its WebAssembly.Module, not ${typeof value}`, ERROR_CODES.invalidArgument, { Kind: TypeError });
}

/**
 * Where the files come from. By default each is the literal URL beside this file; `assetsUrl`
 * (a folder holding the package's files: secnn-worker.js, pkg-cpu/, pkg-threads/, pkg/, model/) moves them all;
 * `workerUrl`, `wasm: { cpu, threads, webgpu }` and `weights` move one each. URLs are made absolute here.
 * `worker: null` means the bundler-visible literal worker URL.
 */
export function resolveAssets({ assetsUrl, workerUrl, wasm, weights }) {
  if (wasm !== undefined && (wasm === null || typeof wasm !== 'object' || isBytes(wasm))) {
    throw codedError('create: wasm must be an object { cpu, threads, webgpu } of URLs or bytes of secnn_bg.wasm', ERROR_CODES.invalidArgument, { Kind: TypeError });
  }
  const base = assetsUrl ? absolute(String(assetsUrl).replace(/\/?$/, '/')) : null;
  return {
    worker: workerUrl ? absolute(workerUrl) : base ? new URL('secnn-worker.js', base).href : null,
    wasm: { cpu: wasmSource(wasm?.cpu, 'cpu'), threads: wasmSource(wasm?.threads, 'threads'), webgpu: wasmSource(wasm?.webgpu, 'webgpu') },
    weights: weights ?? (base ? new URL('model/secnn-cifar10.bpk', base).href : DEFAULT_WEIGHTS),
  };
}
