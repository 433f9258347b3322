// The page's style sheet is inline in index.html (a linked one held the first paint back by a
// round trip), so the page's CSP must name its hash: with a stale hash the browser drops the
// whole sheet. This says the hash to write when the sheet changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './browser.mjs';

test("index.html's CSP allows its inline style sheet, and only by hash", () => {
  const html = readFileSync(join(root, 'index.html'), 'utf8');
  const sheets = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
  assert.equal(sheets.length, 1, 'one inline style sheet');
  const csp = html.match(/http-equiv="Content-Security-Policy"\s+content="([^"]*)"/)?.[1];
  assert.ok(csp, 'index.html has a CSP');
  const styleSrc = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('style-src'));
  assert.doesNotMatch(styleSrc, /unsafe-inline/);
  const hash = `'sha256-${createHash('sha256').update(sheets[0]).digest('base64')}'`;
  assert.ok(styleSrc.split(/\s+/).includes(hash), `the style sheet changed: write ${hash} in index.html's style-src (now: ${styleSrc})`);
});
