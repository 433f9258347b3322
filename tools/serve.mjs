// Starts tools/serve.sh (the server `make serve` runs) on `port` for the end-to-end tests and the
// browser benchmark, and resolves with the child process once the server answers. `isolation:
// 'off'` serves without COOP/COEP (a host that cannot send them: the single-threaded module).
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), 'serve.sh');

export async function startServer(port, { isolation = 'on' } = {}) {
  const server = spawn(script, [String(port), '--isolation', isolation], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return server; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill();
  throw new Error('the static server did not start');
}
