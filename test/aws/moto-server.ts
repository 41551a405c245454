// The moto server process, with node's built-ins only: test/aws/moto-global.ts starts it in vitest's main process,
// which should not load the AWS SDKs for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

declare module 'vitest' {
  export interface ProvidedContext {
    /** test/aws/moto-global.ts: GET answers {"url"} of the run's moto server, starting it on the first call. */
    motoBroker: string;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

export interface Moto {
  readonly url: string;
  stop(): Promise<void>;
}

/** `.venv/bin/python -m moto.server`; `bash scripts/setup-python.sh` creates the venv with moto[server]. */
export async function startMoto(): Promise<Moto> {
  const python = resolve('.venv/bin/python');
  if (!existsSync(python)) throw new Error('moto needs the project venv: run `bash scripts/setup-python.sh` first');
  const port = await freePort();
  const child: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited (${child.exitCode}): ${stderr}`);
    try {
      const r = await fetch(`${url}/moto-api/`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    // SIGKILL: moto keeps nothing worth a clean shutdown, and its SIGTERM path takes half a second.
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGKILL');
      }),
  };
}
