// The test-only fork server (test/support/forkserver.py, forkclient.py, test/global-setup.ts): what runs through
// PYTHON during a vitest run must be what the venv's python would do (files, exit code, stdout, stderr, signals),
// and a server that is not there must leave the real python, never a failure. That the tiny-random job through it writes
// what it writes on a fresh interpreter (files, exit code, stdout, stderr) is checked by pytest, which pays that
// interpreter's imports: test/python/test_forkserver_job.py (scripts/pytest.sh).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forkShim } from '../global-setup.js';
import { eventually } from '../support/harness.js';
import { hasPython, PYTHON, REAL_PYTHON, REPO_ROOT } from '../support/video.js';

const work = mkdtempSync(join(tmpdir(), 'vb-forkserver-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// What LocalRunner passes a job (its allow-list), here PATH alone.
const ENV = { PATH: process.env.PATH };

function run(python: string, args: string[], input = '') {
  const r = spawnSync(python, args, { cwd: REPO_ROOT, env: ENV, input, encoding: 'utf8' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const serverPid = () => Number(readFileSync(join(dirname(PYTHON), 'server.sock.pid'), 'utf8'));
const ended = (pid: number) => !existsSync(`/proc/${pid}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

/** A `python -c CODE` through PYTHON that runs `setup`, then prints its pid; resolves once that pid is known. */
async function started(code: string, setup = '') {
  const proc = spawn(PYTHON, ['-c', `import os, sys, time\n${setup}\nprint(os.getpid(), flush=True)\n${code}`, 'marker'], { cwd: REPO_ROOT, env: ENV });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const job = await eventually(() => (/^\d+\n/.test(out) ? Number(out.split('\n')[0]) : undefined), 120_000, 'the job to start');
  return { proc, job, exit, out: () => out };
}

describe.skipIf(!hasPython || PYTHON === REAL_PYTHON)('the fork server', () => {
  beforeAll(() => {
    // A `-m` command starts the server if this run has none yet and waits for its imports (other commands use it
    // once it is ready).
    expect(run(PYTHON, ['-m', 'json.tool'], '{"a": 1}')).toMatchObject({ status: 0, stdout: '{\n    "a": 1\n}\n' });
    expect(existsSync(join(dirname(PYTHON), 'server.sock.ready'))).toBe(true);
  }, 120_000);

  it('runs a job in a fork of the server, with the client\'s argv, cwd, environment, stdin, stdout, stderr and exit code', () => {
    // The environment but what torch's import adds (the server has imported it; a job imports it too).
    const code = 'import os, sys\nprint(os.getppid(), os.getcwd(), [k for k in os.environ if k != "TORCHINDUCTOR_CACHE_DIR"], sys.argv, sys.stdin.read())\nprint("to stderr", file=sys.stderr)\nsys.exit(3)';
    const forked = run(PYTHON, ['-c', code, 'a b', 'c'], 'from stdin');
    expect(forked).toMatchObject({ status: 3, stderr: 'to stderr\n' });
    const [ppid, ...rest] = forked.stdout.split(' ');
    expect(Number(ppid)).toBe(serverPid()); // a fork, not the real python the client falls back to
    const real = run(REAL_PYTHON, ['-c', code, 'a b', 'c'], 'from stdin');
    expect(rest.join(' ')).toBe(real.stdout.split(' ').slice(1).join(' '));
  }, 120_000);

  it('prints an uncaught exception as python does and exits 1', () => {
    const code = 'def f():\n    raise ValueError("no")\nf()';
    const forked = run(PYTHON, ['-c', code]);
    expect(forked).toEqual(run(REAL_PYTHON, ['-c', code]));
    expect(forked.status).toBe(1);
  }, 120_000);

  it('keeps the argv in the client\'s command line (tests find job processes by it in /proc)', async () => {
    const { proc, exit } = await started('time.sleep(60)');
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.slice(-4)).toEqual(['-c', expect.stringContaining('time.sleep(60)'), 'marker', '']);
    proc.kill('SIGKILL');
    await exit;
  }, 120_000);

  it('SIGTERM to the client reaches the job, and the client dies of SIGTERM as the job did', async () => {
    const { proc, job, exit } = await started('time.sleep(60)');
    proc.kill('SIGTERM');
    expect(await exit).toEqual({ code: null, signal: 'SIGTERM' });
    await eventually(() => ended(job), 10_000, 'the job to end');
  }, 120_000);

  it('a job that handles SIGTERM decides how the client exits', async () => {
    // The handler is in place before the pid is printed (and the test sends SIGTERM).
    const { proc, exit, out } = await started('time.sleep(60)', 'import signal\nsignal.signal(signal.SIGTERM, lambda *_: (print("cleaned up", flush=True), sys.exit(7)))');
    proc.kill('SIGTERM');
    expect(await exit).toEqual({ code: 7, signal: null });
    expect(out()).toContain('cleaned up');
  }, 120_000);

  it('SIGINT to the client is a KeyboardInterrupt in the job, which ends by SIGINT as python does', async () => {
    const { proc, exit } = await started('time.sleep(60)');
    proc.kill('SIGINT');
    expect(await exit).toEqual({ code: null, signal: 'SIGINT' });
  }, 120_000);

  it('SIGKILL of the client kills the job', async () => {
    const { proc, job, exit } = await started('time.sleep(60)');
    expect(ended(job)).toBe(false);
    proc.kill('SIGKILL');
    expect(await exit).toEqual({ code: null, signal: 'SIGKILL' });
    await eventually(() => ended(job), 10_000, 'the job to be killed');
  }, 120_000);
});

describe.skipIf(!hasPython)('the fork client without a server', () => {
  it('runs the real python with the same argv when the server is dead', () => {
    const dir = mkdtempSync(join(work, 'dead-'));
    const socket = join(dir, 'server.sock');
    // A server that died without cleaning up: its socket is there, nobody listens; its lock keeps clients from
    // starting another.
    expect(run(REAL_PYTHON, ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', socket]).status).toBe(0);
    writeFileSync(`${socket}.lock`, '');
    const shim = join(dir, 'python');
    writeFileSync(shim, forkShim(socket, process.pid), { mode: 0o755 });
    const r = run(shim, ['-c', 'import os, sys; print(os.getppid(), sys.argv[1:]); sys.exit(5)', 'x']);
    expect(r).toMatchObject({ status: 5, stdout: `${process.pid} ['x']\n` }); // the shim's process itself, exec'd
  });
});
