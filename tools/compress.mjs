// Writes `x.br` (brotli, best) and `x.gz` (gzip -9) next to every file the page downloads that
// compresses well, so tools/static-server.mjs (or any static host) can send them as they are.
// Usage: node tools/compress.mjs [--max-bytes N] DIR_OR_FILE...
//   --max-bytes N: leave files over N bytes as they are (brotli 11 of the 31 MB WebGPU wasm takes
//   over a minute; the package tests, which measure the CPU path, skip it).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const COMPRESSIBLE = new Set(['.wasm', '.js', '.mjs', '.css', '.html', '.json', '.bpk', '.svg', '.webmanifest']);

function* files(path) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path)) yield* files(join(path, name));
  } else if (COMPRESSIBLE.has(extname(path))) {
    yield path;
  }
}

const args = process.argv.slice(2);
const limitAt = args.indexOf('--max-bytes');
const maxBytes = limitAt < 0 ? Infinity : Number(args.splice(limitAt, 2)[1]);
let before = 0;
let after = 0;
for (const path of args.flatMap((p) => [...files(p)])) {
  if (statSync(path).size > maxBytes) continue;
  const bytes = readFileSync(path);
  const brotli = brotliCompressSync(bytes, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
  writeFileSync(`${path}.br`, brotli);
  writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
  before += bytes.length;
  after += brotli.length;
}
console.log(`precompressed: ${(before / 1e6).toFixed(2)} MB -> ${(after / 1e6).toFixed(2)} MB brotli`);
