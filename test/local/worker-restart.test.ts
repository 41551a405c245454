// The real bot with resident workers: no worker outlives the bot (SIGKILL, SIGTERM, Ctrl-C), and a job cut off by a killed bot is retried once.
// The workers are the stub job's serve mode (test/support/stub-python as VIDEOBOT_PYTHON), held at their first step.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { botBundle, eventually, ManualClock } from '../support/harness.js';
import { releaseWhenHolding, STUB_PYTHON } from '../support/stub-job.js';
import { REPO_ROOT } from '../support/video.js';
import { processAlive } from '../../bot/local/processes.js';

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
    // VIDEOBOT_RESIDENT_WORKER is left at its default (true).
    env: { PATH: process.env.PATH, HOME: process.env.HOME, VIDEOBOT_DATA_DIR: dataDir, VIDEOBOT_CHAT: 'shell', VIDEOBOT_DEFAULT_MODEL: 'tiny-random', VIDEOBOT_DEVICE: 'cpu', LOG_LEVEL: 'debug', VIDEOBOT_PYTHON: STUB_PYTHON },
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out };
}

async function exited(bot: Bot): Promise<void> {
  if (bot.proc.exitCode !== null || bot.proc.signalCode !== null) return;
  await new Promise((r) => bot.proc.once('exit', r));
}

/** Live `python -m processing serve` processes whose parent is `parent` (from /proc). */
function workersOf(parent: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (Number(ppid) === parent && state !== 'Z' && cmdline.includes('processing\0serve')) pids.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/**
 * Whether `pid` has exited: gone, or a zombie. The worker of a SIGKILLed bot is re-parented to PID 1, which reaps it
 * when it gets to it (in some containers seconds later); what the test asks is whether the worker ended, as workersOf.
 */
function ended(pid: number): boolean {
  if (!processAlive(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true; // gone meanwhile
  }
}

describe('resident workers and the bot process', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((c) => c()));

  function setUp() {
    const dataDir = mkdtempSync(join(tmpdir(), 'vb-resident-'));
    const store = new SqliteJobStore(join(dataDir, 'videobot.db'), new ManualClock());
    cleanups.push(() => {
      store.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const start = () => {
      const bot = startBot(dataDir);
      cleanups.push(() => bot.proc.kill('SIGKILL'));
      return bot;
    };
    return { store, start, dataDir };
  }

  async function runningJob(store: SqliteJobStore, bot: Bot) {
    await eventually(() => bot.output().includes('type /help'), 60_000, 'bot ready');
    bot.proc.stdin.write('/video a bee on a flower stub:hold --frames 49 --steps 30\n');
    const job = await eventually(async () => (await store.listByState(['running']))[0], 60_000, 'job running');
    const [worker] = await eventually(() => (workersOf(bot.proc.pid!).length === 1 ? workersOf(bot.proc.pid!) : undefined), 10_000, 'one worker');
    return { job, worker: worker! };
  }

  it('a SIGKILLed bot leaves no worker, and the next bot retries the cut-off job and delivers it once', async () => {
    const { store, start, dataDir } = setUp();
    const first = start();
    const { job, worker } = await runningJob(store, first);
    first.proc.kill('SIGKILL');
    await exited(first);
    await eventually(() => ended(worker), 20_000, 'the worker to end with its bot');

    const second = start();
    const outputDir = join(dataDir, 'objects', 'jobs', job.id, 'output');
    await eventually(() => {
      releaseWhenHolding(outputDir);
      return second.output().includes('Video ready');
    }, 90_000, 'delivery after restart'); // includes the second bot's start
    const delivered = await eventually(async () => {
      const j = await store.get(job.id);
      return j?.state === 'delivered' ? j : undefined;
    }, 10_000, 'delivered state');
    expect(delivered.attempts).toBe(2);
    const [secondWorker] = workersOf(second.proc.pid!);
    second.proc.stdin.write('/quit\n');
    await exited(second);
    expect(processAlive(secondWorker!)).toBe(false);
    expect((first.output() + second.output()).split('Video ready').length - 1).toBe(1);
  }, 180_000);

  it.each(['SIGTERM', 'SIGINT'] as const)('%s stops the bot and its busy worker', async (signal) => {
    const { store, start } = setUp();
    const bot = start();
    const { worker } = await runningJob(store, bot);
    bot.proc.kill(signal);
    await exited(bot);
    expect(processAlive(worker)).toBe(false);
  }, 120_000);
});
