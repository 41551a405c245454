// Kill the bot while a job runs and start it again: the job is neither lost nor delivered twice. The real bot process runs
// the stub job (test/support/stub-python as VIDEOBOT_PYTHON), held at its first step until the test releases it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { botBundle, eventually, ManualClock } from '../support/harness.js';
import { releaseWhenHolding, STUB_PYTHON } from '../support/stub-job.js';
import { REPO_ROOT } from '../support/video.js';

interface Bot {
  proc: ChildProcessWithoutNullStreams;
  output: () => string;
}

// The bot, bundled (support/harness.ts botBundle): each start loads one file instead of tsx compiling and loading module by module.
let bundle: string;
beforeAll(async () => {
  bundle = await botBundle();
}, 120_000);

function startBot(dataDir: string): Bot {
  const proc = spawn(process.execPath, [bundle], {
    cwd: REPO_ROOT,
    // Adopting a running job is the one-process-per-video mode's; resident workers: worker-restart.test.ts.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, VIDEOBOT_DATA_DIR: dataDir, VIDEOBOT_CHAT: 'shell', VIDEOBOT_DEFAULT_MODEL: 'tiny-random', VIDEOBOT_DEVICE: 'cpu', LOG_LEVEL: 'debug', VIDEOBOT_RESIDENT_WORKER: 'false', VIDEOBOT_PYTHON: STUB_PYTHON },
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out };
}

async function stopped(bot: Bot): Promise<void> {
  if (bot.proc.exitCode !== null || bot.proc.signalCode !== null) return;
  await new Promise((r) => bot.proc.once('exit', r));
}

describe('restart while a job runs', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  async function scenario(killChildToo: boolean) {
    const dataDir = mkdtempSync(join(tmpdir(), 'vb-restart-'));
    const store = new SqliteJobStore(join(dataDir, 'videobot.db'), new ManualClock());
    cleanups.push(() => {
      store.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const first = startBot(dataDir);
    cleanups.push(() => first.proc.kill('SIGKILL'));
    await eventually(() => first.output().includes('type /help'), 60_000, 'first bot ready');
    first.proc.stdin.write('/video a bee on a flower stub:hold --frames 49 --steps 40\n');
    const running = await eventually(async () => (await store.listByState(['running']))[0], 60_000, 'job running');
    const pidFile = join(dataDir, 'objects', 'jobs', running.id, 'runner.json');
    const { readFileSync } = await import('node:fs');
    const childPid = (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number }).pid;
    first.proc.kill('SIGKILL');
    if (killChildToo) process.kill(-childPid, 'SIGKILL');
    await stopped(first);
    expect(first.output()).not.toContain('Video ready');

    const second = startBot(dataDir);
    cleanups.push(() => second.proc.kill('SIGKILL'));
    const outputDir = join(dataDir, 'objects', 'jobs', running.id, 'output');
    await eventually(() => {
      releaseWhenHolding(outputDir); // the adopted job, or the retry of the one that died with the bot
      return second.output().includes('Video ready');
    }, 90_000, 'delivery after restart'); // includes the second bot's start
    const job = await eventually(async () => {
      const j = await store.get(running.id);
      return j?.state === 'delivered' ? j : undefined;
    }, 10_000, 'delivered state');
    second.proc.stdin.write('/quit\n');
    await stopped(second);
    const posts = (first.output() + second.output()).split('Video ready').length - 1;
    expect(posts).toBe(1);
    return job;
  }

  it('adopts the still-running job and delivers it once', async () => {
    const job = await scenario(false);
    expect(job.attempts).toBe(1);
  }, 180_000);

  it('retries a job whose process died with the bot, and delivers it once', async () => {
    const job = await scenario(true);
    expect(job.attempts).toBe(2);
  }, 180_000);
});
