// Weights fetched from a URL a person gave (`loadWeights(url, { sha256 })`, a page's `?model=`
// link): without credentials, only over https (or from the page's own origin, or the visitor's
// own machine), at most MAX_WEIGHTS_BYTES, with progress, and checked against a SHA-256 before
// anything uses them. Each failure is raised with a stable code and `details.reason`.
import { ERROR_CODES, codedError } from './secnn-protocol.js';

/** The largest weights file taken from a URL: above every model the browser path runs. */
export const MAX_WEIGHTS_BYTES = 256 * 2 ** 20;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

const failed = (message, reason, details = {}) => codedError(message, ERROR_CODES.fetchFailed, { details: { reason, ...details } });

/**
 * `url` made absolute, if weights may be fetched from it: https, the page's own origin, or a
 * loopback address (the visitor's own machine, which browsers treat as secure too).
 */
export function weightsUrl(url, call) {
  let parsed;
  try {
    parsed = new URL(url, globalThis.document?.baseURI ?? globalThis.location?.href);
  } catch {
    throw codedError(`${call}: ${JSON.stringify(String(url))} is not a URL`, ERROR_CODES.invalidArgument, { Kind: TypeError });
  }
  const sameOrigin = typeof location !== 'undefined' && parsed.origin === location.origin;
  const secure = parsed.protocol === 'https:' || (parsed.protocol === 'http:' && LOOPBACK.has(parsed.hostname));
  if (!sameOrigin && !secure) {
    throw codedError(`${call}: weights are fetched only over https (or from this page's own origin), not from ${parsed.origin}`,
      ERROR_CODES.invalidArgument, { Kind: RangeError });
  }
  return parsed;
}

/** Checks `sha256` (64 hex digits), lower-cased; null when absent. */
export function checkSha256(call, sha256) {
  if (sha256 === undefined || sha256 === null) return null;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(sha256)) {
    throw codedError(`${call}: sha256 must be 64 hexadecimal digits, not ${JSON.stringify(String(sha256))}`, ERROR_CODES.invalidArgument, { Kind: TypeError });
  }
  return sha256.toLowerCase();
}

/** The SHA-256 of `bytes` as 64 hex digits. */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The response to a credential-free GET of `url`, or the failure named. */
async function request(url) {
  let response;
  try {
    response = await fetch(url, { credentials: 'omit', mode: 'cors', redirect: 'follow' });
  } catch (error) {
    throw failed(`could not read ${url.href}: the host does not let other sites read the file (no CORS headers), or it cannot be reached ` +
      `(${error.message}); download the file and open it as a file instead`, 'cors-or-network');
  }
  if (response.status === 404) throw failed(`could not read ${url.href}: there is no file there (HTTP 404)`, 'not-found', { status: 404 });
  if (!response.ok) throw failed(`could not read ${url.href}: HTTP ${response.status}`, 'http', { status: response.status });
  return response;
}

const tooLarge = (url, bytes, maxBytes) => failed(`${url.href} is ${bytes > 0 ? `${(bytes / 2 ** 20).toFixed(0)} MB or more` : 'too large'}: ` +
  `weights are read up to ${(maxBytes / 2 ** 20).toFixed(0)} MB`, 'too-large', { maxBytes });

/** The body of `response`, refused as soon as it passes `maxBytes`, `onProgress({ loaded, total })` as it arrives. */
async function readBody(url, response, maxBytes, onProgress) {
  const total = Number(response.headers.get('Content-Length')) || null;
  if (total > maxBytes) {
    response.body?.cancel().catch(() => {});
    throw tooLarge(url, total, maxBytes);
  }
  const reader = response.body.getReader();
  const parts = [];
  let loaded = 0;
  for (let part; !(part = await reader.read()).done;) {
    loaded += part.value.length;
    if (loaded > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge(url, loaded, maxBytes);
    }
    parts.push(part.value);
    onProgress?.({ loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  parts.reduce((at, chunk) => { bytes.set(chunk, at); return at + chunk.length; }, 0);
  return bytes;
}

/**
 * The bytes at `url` (checked with `weightsUrl`), refused with code 'fetch-failed' (`details.reason`:
 * 'cors-or-network', 'not-found', 'http', 'too-large') or, when they do not hash to `sha256`,
 * code 'hash-mismatch' (`details: { expected, actual }`).
 */
export async function fetchWeights(url, { sha256 = null, onProgress = null, maxBytes = MAX_WEIGHTS_BYTES } = {}) {
  const response = await request(url);
  const bytes = await readBody(url, response, maxBytes, onProgress);
  if (sha256) {
    const actual = await sha256Hex(bytes);
    if (actual !== sha256) {
      throw codedError(`${url.href} is not the file the link names: its SHA-256 is ${actual}, the link says ${sha256}`,
        ERROR_CODES.hashMismatch, { details: { expected: sha256, actual } });
    }
  }
  return bytes;
}
