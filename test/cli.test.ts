// `npx videobot generate`: the one-shot command for scripts. Each case runs the command in this process through
// bot/main.ts's main with its own stdout, stderr and signals (test/support/videobot.ts), on the stub job
// (test/support/stub-python as VIDEOBOT_PYTHON); the real entry point (bin/videobot.mjs) runs once as a process of
// its own with the real tiny-random job, and the bot runs as a process of its own beside a command (bundled: one
// file to load, see support/harness.ts botBundle).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../bot/local/sqlite.js';
import { sampleJob } from './support/fixtures.js';
import { botBundle, eventually } from './support/harness.js';
import { STUB_PYTHON } from './support/stub-job.js';
import { hasPython, probeVideo, PYTHON, REPO_ROOT } from './support/video.js';
import { runCommand, spawnVideobot, startCommand } from './support/videobot.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vb-cli-'));
  dirs.push(dir);
  return dir;
}
const sharedDataDir = freshDataDir();

/** The stub job: the processing contract without torch (test/support/stub-job.mjs), also for `processing probe`. */
const STUB = { VIDEOBOT_PYTHON: STUB_PYTHON };
/** Where processes share a data folder: the one that waits looks at the queue every 100 ms instead of every second. */
const QUICK_QUEUE = { VIDEOBOT_QUEUE_POLL_MS: '100' };

function env(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // The models folder inside the data folder: every job process then names the data folder on its command line.
  return { PATH: process.env.PATH, HOME: process.env.HOME, VIDEOBOT_DATA_DIR: dataDir, VIDEOBOT_MODELS_DIR: join(dataDir, 'models'), VIDEOBOT_DEVICE: 'cpu', ...extra };
}

function videobot(...args: string[]) {
  return videobotIn(sharedDataDir, STUB, ...args);
}

function videobotIn(dataDir: string, extra: Record<string, string>, ...args: string[]) {
  return runCommand(args, env(dataDir, extra));
}

function start(dataDir: string, args: string[], extra: Record<string, string> = {}) {
  return startCommand(args, env(dataDir, extra));
}

/** Pids of live processes whose command line names `text` (the job's python, wherever it was started from). */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = /^State:\s+(\w)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (cmdline.includes(text) && state !== 'Z') pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

const jobIdOf = (stderr: string) => /Job (j[a-z0-9]+):/.exec(stderr)?.[1];
const lastLine = (stdout: string) => stdout.trim().split('\n').at(-1) ?? '';

describe('videobot help', () => {
  it('lists every exit code', async () => {
    const r = await runCommand(['help'], { PATH: process.env.PATH });
    expect(r.status).toBe(0);
    for (const code of ['0 ', '1 ', '2 ', '3 ', '70 ', '130 ']) expect(r.stdout).toContain(`\n  ${code}`);
  });
});

describe('start-up errors: one sentence and exit code 3, no stack trace', () => {
  it('a data folder that is a file', async () => {
    const file = join(freshDataDir(), 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await videobotIn(file, {}, 'generate', 'a bee', '--model', 'tiny-random');
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe(`VIDEOBOT_DATA_DIR is ${file}, which is a file, not a folder: point VIDEOBOT_DATA_DIR at a folder (it is created if missing).`);
  });

  it('a data folder under a file', async () => {
    const file = join(freshDataDir(), 'file');
    writeFileSync(file, 'x');
    const r = await videobotIn(join(file, 'var'), {}, 'generate', 'a bee');
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^The data folder .*\/file\/var \(VIDEOBOT_DATA_DIR\) cannot be created or written \(part of that path is a file\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a VIDEOBOT_PYTHON that does not exist', async () => {
    const r = await videobotIn(freshDataDir(), { VIDEOBOT_PYTHON: '/nonexistent/python' }, 'generate', 'a bee', '--model', 'tiny-random');
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe('VIDEOBOT_PYTHON is /nonexistent/python, which does not exist: run `npm run setup` to install the processing job, or point VIDEOBOT_PYTHON at a Python that has processing/requirements.txt installed.');
  });

  it('a VIDEOBOT_PYTHON that is a folder', async () => {
    const dir = freshDataDir();
    const r = await videobotIn(dir, { VIDEOBOT_PYTHON: dir }, 'start');
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toContain(`VIDEOBOT_PYTHON is ${dir}, which is not an executable file`);
  });
});

describe('videobot models stage: bad arguments get one sentence and exit code 2 before anything reaches AWS', () => {
  // A complete AWS configuration that points nowhere: every case below must stop before the first request.
  const aws = {
    PATH: process.env.PATH,
    VIDEOBOT_BACKEND: 'aws',
    AWS_REGION: 'us-east-1',
    VIDEOBOT_INPUT_BUCKET: 'in',
    VIDEOBOT_OUTPUT_BUCKET: 'out',
    VIDEOBOT_JOB_TABLE: 'jobs',
    VIDEOBOT_EVENTS_QUEUE_URL: 'http://127.0.0.1:9/000000000000/events',
    VIDEOBOT_MODEL_CACHE_URI: 's3://in/models/',
    SAGEMAKER_ROLE_ARN: 'arn:aws:iam::123456789012:role/videobot-staging',
    SAGEMAKER_IMAGE_URI: '123456789012.dkr.ecr.us-east-1.amazonaws.com/videobot-processing:abc',
    VIDEOBOT_ENHANCER: 'off',
  };
  it.each([
    [['cogvideox-5b', '--gpu'], 'unknown option --gpu; models stage takes --cpu or --instance-type TYPE'],
    [['cogvideox-5b', '--instance-type'], '--instance-type needs a type, e.g. --instance-type ml.g6e.2xlarge'],
    [['cogvideox-5b', '--cpu', '--instance-type', 'ml.g6e.2xlarge'], 'choose one of --cpu and --instance-type'],
    [['cogvideox-5b', '--instance-type=ml.p5.48xlarge'], '"ml.p5.48xlarge" (--instance-type) is not an instance type SageMaker offers for Processing jobs; nearest valid choices: ml.p5.4xlarge'],
    [['--cpu'], 'Which model? e.g. `videobot models stage cogvideox-5b`'],
  ])('%j', async (args, sentence) => {
    const r = await runCommand(['models', 'stage', ...args], aws);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().startsWith(sentence), r.stderr).toBe(true);
    expect(r.stdout).toBe('');
  });
});

describe('bad input: one sentence and exit code 2, nothing started', () => {
  it('a bad flag', async () => {
    const r = await videobot('generate', 'a bee', '--model', 'tiny-random', '--steps', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error: --steps must be a whole number from 1 to 100');
    expect(r.stdout).toBe('');
  });

  it('--image naming a folder', async () => {
    const dir = freshDataDir();
    const r = await videobot('generate', 'the waves roll in', '--image', dir);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`error: ${dir} is a folder; --image needs a picture file (PNG, JPEG or WebP).`);
  });

  it('a GPU model on a machine without a GPU is refused at submit, naming the model that runs here', async () => {
    const r = await videobot('generate', 'a bee', '--model', 'cogvideox-5b', '--steps', '1');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error: CogVideoX-5B needs an NVIDIA GPU with at least 16 GiB of memory, and VIDEOBOT_DEVICE=cpu keeps this bot off the GPU; the model that runs here is tiny-random');
    const store = new SqliteJobStore(join(sharedDataDir, 'videobot.db'), { now: () => Date.now() });
    expect(await store.listByState(['queued', 'failed'])).toEqual([]);
    store.close();
  });
});

describe.skipIf(!hasPython)('bin/videobot.mjs generate with the real job, as a process of its own', () => {
  it('prints progress on stderr and the MP4 path as the last stdout line, and exits', async () => {
    // The real job (through the tests' fork server: PYTHON, docs/testing.md), and the real entry point: it must end
    // once the command is done.
    const run = spawnVideobot(['generate', 'a bee on a flower', '--model', 'tiny-random', '--frames', '17', '--steps', '2', '--seed', '11'], env(freshDataDir(), { VIDEOBOT_PYTHON: PYTHON }));
    const status = await run.exit;
    expect(status, run.err()).toBe(0);
    // Progress is polled: on an idle machine two tiny steps can fall between two polls, so any phase line counts
    // (step lines are checked where a job waits between steps: the Slack and Discord progress tests).
    expect(run.err()).toMatch(/Loading the model…|step \d\/2/);
    const path = lastLine(run.out());
    expect(path).toMatch(/video\.mp4$/);
    expect(probeVideo(path)).toMatchObject({ codec: 'h264', frames: 17, fps: 8, width: 96, height: 64 });
  }, 300_000);
});

/** The bot as a process of its own (cwd: the repository), from the bundle. */
function spawnBot(bundle: string, botEnv: NodeJS.ProcessEnv) {
  const proc = spawn(process.execPath, [bundle], { cwd: REPO_ROOT, env: botEnv });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, out: () => out, exit };
}

const framesOf = (video: string) => (JSON.parse(readFileSync(join(video, '..', 'metadata.json'), 'utf8')) as { job: { frames: number } }).job.frames;

describe('videobot generate with the stub job', () => {
  it('Ctrl-C cancels the job and ends its process (exit 130); the next run makes and reports its own video', async () => {
    const dataDir = freshDataDir();
    const first = start(dataDir, ['generate', 'a slow bee stub:hold', '--model', 'tiny-random', '--frames', '49', '--steps', '100', '--seed', '1'], STUB);
    // Its job process is at work (held at its first step).
    await eventually(() => /Loading the model|step \d+\/100/.test(first.err()), 60_000, 'the first job to run');
    expect(processesNaming(dataDir).length).toBeGreaterThan(0);
    first.signal('SIGINT');
    expect(await first.exit).toBe(130);
    expect(first.err()).toContain('Interrupted: cancelling the job');
    expect(first.out()).toBe('');
    expect(processesNaming(dataDir)).toEqual([]);
    const store = new SqliteJobStore(join(dataDir, 'videobot.db'), { now: () => Date.now() });
    const firstId = jobIdOf(first.err())!;
    expect((await store.get(firstId))?.state).toBe('cancelled');
    store.close();

    const second = await videobotIn(dataDir, STUB, 'generate', 'a quick cat', '--model', 'tiny-random', '--frames', '9', '--steps', '1', '--seed', '2');
    expect(second.status, second.stderr).toBe(0);
    const secondId = jobIdOf(second.stderr)!;
    expect(secondId).not.toBe(firstId);
    expect(lastLine(second.stdout)).toContain(`/jobs/${secondId}/output/video.mp4`);
  });

  it('two runs at once on one data folder each make and report their own video, past a used-up daily quota', async () => {
    const dataDir = freshDataDir();
    // 20 videos today: the default daily quota, which the person at this machine's terminal is not held to.
    const store = new SqliteJobStore(join(dataDir, 'videobot.db'), { now: () => Date.now() });
    const me = { platform: 'cli' as const, userId: userInfo().username };
    for (let i = 0; i < 20; i++) {
      await store.create(sampleJob(`jold${i}`, { state: 'delivered', requester: me, conversation: { platform: 'cli', channelId: 'cli' }, createdAt: Date.now(), finishedAt: Date.now() }));
    }
    const a = start(dataDir, ['generate', 'a bee', '--model', 'tiny-random', '--frames', '9', '--steps', '2', '--seed', '5'], { ...STUB, ...QUICK_QUEUE });
    const b = start(dataDir, ['generate', 'a cat', '--model', 'tiny-random', '--frames', '17', '--steps', '1', '--seed', '6'], { ...STUB, ...QUICK_QUEUE });
    const [codeA, codeB] = await Promise.all([a.exit, b.exit]);
    expect(codeA, a.err()).toBe(0);
    expect(codeB, b.err()).toBe(0);
    const [idA, idB] = [jobIdOf(a.err())!, jobIdOf(b.err())!];
    expect(lastLine(a.out())).toContain(`/jobs/${idA}/output/video.mp4`);
    expect(lastLine(b.out())).toContain(`/jobs/${idB}/output/video.mp4`);
    expect(framesOf(lastLine(a.out()))).toBe(9);
    expect(framesOf(lastLine(b.out()))).toBe(17);
    expect((await store.get(idA))?.state).toBe('delivered');
    expect((await store.get(idB))?.state).toBe('delivered');
    store.close();
  });

  let bundle: string;
  beforeAll(async () => {
    bundle = await botBundle();
  }, 120_000);

  it('runs while the bot runs: the bot (a process of its own) runs the job, the command reports it', async () => {
    const dataDir = freshDataDir();
    mkdirSync(dataDir, { recursive: true });
    const bot = spawnBot(bundle, env(dataDir, { VIDEOBOT_CHAT: 'shell', VIDEOBOT_DEFAULT_MODEL: 'tiny-random', ...STUB, ...QUICK_QUEUE }));
    try {
      await eventually(() => bot.out().includes('type /help'), 60_000, 'the bot to start');
      const r = await videobotIn(dataDir, { ...STUB, ...QUICK_QUEUE }, 'generate', 'a fox', '--model', 'tiny-random', '--frames', '9', '--steps', '1');
      expect(r.status, r.stderr).toBe(0);
      const id = jobIdOf(r.stderr)!;
      expect(lastLine(r.stdout)).toContain(`/jobs/${id}/output/video.mp4`);
      const store = new SqliteJobStore(join(dataDir, 'videobot.db'), { now: () => Date.now() });
      expect((await store.get(id))?.state).toBe('delivered');
      store.close();
      expect(bot.out()).not.toContain(id); // the bot's terminal shows nothing of the command's job
    } finally {
      bot.proc.stdin.write('/quit\n');
      await Promise.race([bot.exit, new Promise((r) => setTimeout(r, 30_000))]);
      bot.proc.kill('SIGKILL');
    }
  }, 90_000);
});
