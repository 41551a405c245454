// Shared test wiring: a real JobService on SQLite (in memory) and files in a temp folder, with a scriptable runner.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, IdGenerator, Logger, Runner, RunnerEvent, RunnerStatus } from '../../bot/core/ports.js';
import { createJobService, type JobServiceDeps } from '../../bot/core/service.js';
import { FsObjectStore } from '../../bot/local/files.js';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { systemClock } from '../../bot/local/system.js';
import { FakeClock } from './fake-clock.js';

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

/** Polls until `check` returns a value (not undefined/false), or throws after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
