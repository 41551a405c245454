// Once per vitest run: the stand-in python of the test-only fork server (test/support/forkserver.py), so that each
// real tiny-random job forks from one interpreter that has torch, diffusers and transformers imported instead of
// importing them itself (~10 s a job on the 2-core machine). docs/testing.md, "The fork server".
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO_ROOT = resolve(import.meta.dirname, '..');
const REAL_PYTHON = join(REPO_ROOT, '.venv', 'bin', 'python');
const CLIENT = join(REPO_ROOT, 'test', 'support', 'forkclient.py');
/** Where test/support/video.ts reads PYTHON from: vitest's workers inherit this process's environment. Set to the
 * empty string, it keeps the run on the real python. */
const FORK_PYTHON_ENV = 'VIDEOBOT_TEST_FORK_PYTHON';

/**
 * The stand-in python: the venv's python running forkclient.py with SOCKET and OWNER before the caller's argv. A
 * Python script, not `#!/bin/sh`: sh would add PWD to the job's environment. Its command line keeps the argv
 * (`python -SI SHIM -m processing serve ...`), which tests look for in /proc.
 */
export function forkShim(socket: string, owner: number): string {
  return [
    `#!${REAL_PYTHON} -SI`,
    '# The fork server\'s stand-in python (test/global-setup.ts).',
    'import runpy, sys',
    `sys.argv[1:1] = [${JSON.stringify(socket)}, ${JSON.stringify(String(owner))}]`,
    `runpy.run_path(${JSON.stringify(CLIENT)}, run_name="__main__")`,
    '',
  ].join('\n');
}

export default function setup(): (() => Promise<void>) | undefined {
  if (!existsSync(REAL_PYTHON) || process.env[FORK_PYTHON_ENV] !== undefined) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'videobot-forkserver-'));
  const socket = join(dir, 'server.sock');
  const shim = join(dir, 'python');
  // Nothing starts here: the first real job's client starts the server, or test/support/sequencer.ts does
  // (startForkServer) when the run has a file that needs it (a run without one pays nothing). The socket's path and
  // this process's pid (the server ends with it) are baked in, because LocalRunner passes a job only an
  // allow-listed environment.
  writeFileSync(shim, forkShim(socket, process.pid), { mode: 0o755 });
  process.env[FORK_PYTHON_ENV] = shim;
  return async () => {
    delete process.env[FORK_PYTHON_ENV];
    const pidFile = `${socket}.pid`;
    if (existsSync(pidFile)) await stop(Number(readFileSync(pidFile, 'utf8')));
    rmSync(dir, { recursive: true, force: true });
  };
}

/**
 * Starts the run's fork server now, without waiting for it: a detached `python -m site` through the stand-in, which
 * starts the server as a real job's client would and ends once its imports are done (and `site` has printed into
 * /dev/null). test/support/sequencer.ts calls it as the run begins, so that the server imports torch & co. beside the
 * first files instead of while the first real jobs wait for it. Does nothing when the run is on the real python.
 */
export function startForkServer(): void {
  const shim = process.env[FORK_PYTHON_ENV];
  if (!shim) return;
  spawn(shim, ['-m', 'site'], { cwd: REPO_ROOT, detached: true, stdio: 'ignore', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } }).unref();
}

/** SIGTERM (the server SIGKILLs any job still running), then SIGKILL if it has not ended within 5 s. */
async function stop(pid: number): Promise<void> {
  // Ended means gone or a zombie (PID 1 adopts the server, and may reap it seconds later).
  const alive = () => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(); i++) await sleep(50);
  if (alive()) process.kill(pid, 'SIGKILL');
}
