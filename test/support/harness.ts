// Shared test wiring: a real JobService on SQLite (in memory) and files in a temp folder, with a scriptable runner.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import type { Plugin } from 'esbuild';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, IdGenerator, Logger, Runner, RunnerEvent, RunnerStatus } from '../../bot/core/ports.js';
import { createJobService, type JobServiceDeps } from '../../bot/core/service.js';
import { FsObjectStore } from '../../bot/local/files.js';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { systemClock } from '../../bot/local/system.js';
import { FakeClock } from './fake-clock.js';
import { REPO_ROOT } from './video.js';

export function testLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

/** The tests' clock: time stands still until a test advances it, firing the service's timers on the way. */
export class ManualClock extends FakeClock {}

export function sequentialIds(prefix = 'j'): IdGenerator {
  let n = 0;
  let s = 1000;
  return { jobId: () => `${prefix}${String(++n).padStart(4, '0')}`, seed: () => s++ };
}

/** A Runner the test drives by hand: `runner.progress(id, k, n)`, `runner.complete(id)`, `runner.fail(id, ...)`. */
export class ScriptedRunner implements Runner {
  readonly submitted: Job[] = [];
  readonly cancelled: string[] = [];
  readonly statuses = new Map<string, RunnerStatus>();
  private handler?: (e: RunnerEvent) => Promise<void>;
  /** Bytes written as video.mp4 on complete(). */
  video: Uint8Array = new Uint8Array([0, 0, 0, 24, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d]);

  constructor(private readonly objects: FsObjectStore) {}

  async start(onEvent: (e: RunnerEvent) => Promise<void>): Promise<void> {
    this.handler = onEvent;
  }
  async stop(): Promise<void> {}
  async submit(job: Job): Promise<{ ref: string }> {
    this.submitted.push(job);
    return { ref: `scripted:${job.id}` };
  }
  async cancel(job: Job): Promise<void> {
    this.cancelled.push(job.id);
  }
  async describe(job: Job): Promise<RunnerStatus> {
    return this.statuses.get(job.id) ?? { status: 'unknown' };
  }
  async emit(event: RunnerEvent): Promise<void> {
    if (!this.handler) throw new Error('runner not started');
    await this.handler(event);
  }
  progress(jobId: string, step: number, total: number, phase = 'denoising'): Promise<void> {
    return this.emit({ jobId, kind: 'progress', progress: { phase, step, total, etaS: (total - step) * 2, elapsedS: step * 2 } });
  }
  async complete(jobId: string, metadata: Record<string, unknown> = { timings_s: { denoising: 1.5, total: 3 } }): Promise<void> {
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(this.objects.outputDir(jobId), { recursive: true });
    await writeFile(join(this.objects.outputDir(jobId), 'video.mp4'), this.video);
    await writeFile(join(this.objects.outputDir(jobId), 'poster.jpg'), new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
    await writeFile(join(this.objects.outputDir(jobId), 'metadata.json'), JSON.stringify(metadata));
    await this.emit({ jobId, kind: 'completed', metadata });
  }
  fail(jobId: string, code: string, message: string, retryable = false): Promise<void> {
    return this.emit({ jobId, kind: 'failed', failure: { code, message, retryable } });
  }
}

export interface Harness {
  readonly dir: string;
  readonly clock: ManualClock;
  readonly store: SqliteJobStore;
  readonly objects: FsObjectStore;
  readonly runner: ScriptedRunner;
  readonly service: ReturnType<typeof createJobService>;
  close(): Promise<void>;
}

/** Builds a started JobService with real local store and files and a ScriptedRunner (or the one `makeRunner` builds). */
export async function createHarness(
  chats: ChatSurface[],
  overrides: Partial<JobServiceDeps> & { makeRunner?: (objects: FsObjectStore) => Runner } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'videobot-test-'));
  const clock = new ManualClock();
  const store = new SqliteJobStore(':memory:', clock);
  const objects = new FsObjectStore(join(dir, 'objects'));
  const runner = new ScriptedRunner(objects);
  const { makeRunner, ...rest } = overrides;
  const service = createJobService({
    store,
    objects,
    runner: makeRunner ? makeRunner(objects) : runner,
    chats,
    clock,
    // Real chat adapters edit against their platform's budgets in real time while the job clock stands still.
    editClock: systemClock,
    ids: sequentialIds(),
    logger: testLogger(),
    defaultModel: 'tiny-random',
    limits: { statusIntervalMs: 0, retryBackoffMs: 0 },
    settings: store,
    ...rest,
  });
  await service.start();
  return {
    dir,
    clock,
    store,
    objects,
    runner,
    service,
    async close() {
      await service.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls until `check` returns a value (not undefined/false), or throws after `timeoutMs`. Every `intervalMs`: 20 ms
 * suits a check of the test's own memory; a check that asks a server costs that server CPU (moto: eventuallyOnMoto, test/aws/moto.ts).
 */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition', intervalMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * bot/main.ts and its dependencies bundled into one file, for tests that start the bot as a process of its own again
 * and again (kill and restart, signals, a bot beside a command): node loads it in under a second, where loading
 * discord.js, Bolt and the AWS SDKs module by module through tsx takes two seconds and more at every start. It runs
 * main() as bot/main.ts does when run directly, with the same REPO_ROOT (the job's cwd, VIDEOBOT_PYTHON's base).
 * Built again whenever bot/, the processing JSON it reads or package-lock.json changes; kept in node_modules/.cache.
 * The real entry points keep their own tests: bin/videobot.mjs (test/cli.test.ts), the image's CMD (test/infra/bot-image).
 */
export async function botBundle(): Promise<string> {
  const inputs = [...filesUnder(join(REPO_ROOT, 'bot')), ...['processing/limits.json', 'processing/presets.json', 'package-lock.json', 'test/support/harness.ts'].map((f) => join(REPO_ROOT, f))];
  const hash = createHash('sha256').update(`node${process.versions.node.split('.')[0]}\0`); // the build's target
  for (const file of inputs.sort()) hash.update(file).update('\0').update(readFileSync(file)).update('\0');
  const dir = join(REPO_ROOT, 'node_modules', '.cache', 'videobot-test-bot');
  const bundle = join(dir, `${hash.digest('hex').slice(0, 16)}.mjs`);
  if (existsSync(bundle)) {
    utimesSync(bundle, new Date(), new Date()); // in use: kept (below)
    return bundle;
  }
  mkdirSync(dir, { recursive: true });
  // Bundles of other sources are dropped (~10 MB each) once unused for ten minutes; a newer one may be another run's.
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (Date.now() - statSync(path).mtimeMs > 10 * 60_000) rmSync(path, { force: true });
  }
  const { build } = await import('esbuild');
  const partial = `${bundle}.${process.pid}.tmp`;
  await build({
    stdin: {
      contents: "import { main } from './bot/main.ts';\nvoid main(process.argv.slice(2), process.env).then((code) => process.exit(code));\n",
      resolveDir: REPO_ROOT,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: `node${process.versions.node.split('.')[0]}`,
    outfile: partial,
    external: ['better-sqlite3'], // a native addon: loaded from node_modules as usual
    plugins: [mainAtHome],
    // CommonJS dependencies require() Node's modules; an ES module bundle has no require of its own.
    banner: { js: "import { createRequire as __videobotRequire } from 'node:module'; const require = __videobotRequire(import.meta.url);" },
    logLevel: 'error',
  });
  renameSync(partial, bundle); // atomic: a test file building it at the same time reads a whole bundle or none
  return bundle;
}

/** bot/main.ts finds the repository from its own URL: in the bundle it keeps the URL it has in the repository. */
const mainAtHome: Plugin = {
  name: 'bot-main-url',
  setup(b) {
    const main = join(REPO_ROOT, 'bot', 'main.ts');
    b.onLoad({ filter: /[\\/]bot[\\/]main\.ts$/ }, (args) => {
      if (args.path !== main) return undefined;
      const source = readFileSync(main, 'utf8');
      if (!source.includes('import.meta.url')) throw new Error('bot/main.ts no longer finds the repository from import.meta.url: update botBundle()');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(main).href)), loader: 'ts' };
    });
  },
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
