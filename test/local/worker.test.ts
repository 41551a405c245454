// The LocalRunner on resident workers (bot/local/worker.ts): once with `python -m processing serve` and the real tiny-random
// model on the CPU, then the workers' lifecycle (kill, cancel, grace, stop) against the stub job's serve mode (test/support/stub-job.mjs).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { RunnerEvent } from '../../bot/core/ports.js';
import { loadConfig } from '../../bot/config.js';
import { FsObjectStore } from '../../bot/local/files.js';
import { LocalRunner } from '../../bot/local/runner.js';
import { eventually } from '../support/harness.js';
import { testRunnerOptions } from '../support/local-runner.js';
import { stubCommand } from '../support/stub-job.js';
import { hasPython } from '../support/video.js';
import { processAlive } from '../../bot/local/processes.js';

const TINY = { model: 'tiny-random', prompt: 'a bee on a flower', seed: 3, frames: 9, steps: 2 };
// On the stub job: holds after its first denoising step (until a release file appears, which these tests never write).
const LONG = { ...TINY, prompt: 'a bee on a flower stub:hold', frames: 49, steps: 100 };

interface Rig {
  runner: LocalRunner;
  objects: FsObjectStore;
  events: RunnerEvent[];
  submit(id: string, params?: Record<string, unknown>): Promise<Job>;
  outcome(id: string, kinds?: RunnerEvent['kind'][]): Promise<RunnerEvent>;
  metadata(id: string): { runtime: { resident: boolean; load_s: number } };
}

describe('VIDEOBOT_RESIDENT_WORKER', () => {
  it('is on unless set to false', () => {
    expect(loadConfig({}).VIDEOBOT_RESIDENT_WORKER).toBe(true);
    expect(loadConfig({ VIDEOBOT_RESIDENT_WORKER: 'false' }).VIDEOBOT_RESIDENT_WORKER).toBe(false);
  });
});

describe('LocalRunner with resident workers', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** `real`: `python -m processing serve` from .venv; otherwise the stub job's serve mode. */
  async function rig(options: { workerGrace?: { cancelGraceMs?: number }; real?: boolean } = {}): Promise<Rig> {
    const { real = false, ...runnerOptions } = options;
    const dir = mkdtempSync(join(tmpdir(), 'vb-worker-'));
    const objects = new FsObjectStore(join(dir, 'objects'));
    const runner = new LocalRunner(
      testRunnerOptions(objects, {
        modelsDir: join(dir, 'models'),
        timeoutMs: 300_000,
        residentWorker: true,
        ...(real ? {} : { workerCommand: stubCommand('serve') }),
        ...runnerOptions,
      }),
    );
    const events: RunnerEvent[] = [];
    await runner.start(async (e) => void events.push(e));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    cleanups.push(() => runner.stop());
    return {
      runner,
      objects,
      events,
      async submit(id, params = TINY) {
        await mkdir(objects.inputDir(id), { recursive: true });
        await writeFile(join(objects.inputDir(id), 'job.json'), JSON.stringify({ id, ...params }));
        const job = { id } as Job; // the runner reads only the id; the job itself is job.json
        await runner.submit(job);
        return job;
      },
      outcome: (id, kinds = ['completed', 'failed', 'stopped']) =>
        eventually(() => events.find((e) => e.jobId === id && kinds.includes(e.kind)), 120_000, `an outcome of ${id}`),
      metadata: (id) => JSON.parse(readFileSync(join(objects.outputDir(id), 'metadata.json'), 'utf8')) as ReturnType<Rig['metadata']>,
    };
  }

  const denoising = (r: Rig, id: string) =>
    eventually(() => r.events.some((e) => e.jobId === id && e.kind === 'progress' && e.progress.phase === 'denoising' && e.progress.step >= 1), 120_000, `${id} denoising`);

  it.skipIf(!hasPython)('starts a worker on the first job and runs the second on it with the model already loaded', async () => {
    const r = await rig({ real: true });
    expect(r.runner.workerPids).toEqual([]);
    await r.submit('a');
    expect(await r.outcome('a')).toMatchObject({ kind: 'completed' });
    const [pid] = r.runner.workerPids;
    expect(pid).toBeGreaterThan(0);
    await r.submit('b', { ...TINY, seed: 4 });
    expect(await r.outcome('b')).toMatchObject({ kind: 'completed', metadata: { job: { seed: 4 } } });
    expect(r.runner.workerPids).toEqual([pid]);
    expect(r.metadata('a').runtime.resident).toBe(false);
    expect(r.metadata('b').runtime.resident).toBe(true);
    expect(existsSync(join(r.objects.outputDir('b'), 'video.mp4'))).toBe(true);
    const phases = r.events.filter((e) => e.jobId === 'b' && e.kind === 'progress').map((e) => (e.kind === 'progress' ? e.progress.phase : ''));
    expect(phases).toContain('done');
  }, 240_000);

  it('a worker killed mid-job fails the job as retryable and the retry gets a fresh worker', async () => {
    const r = await rig();
    const job = await r.submit('long', LONG);
    await denoising(r, 'long');
    const [killed] = r.runner.workerPids;
    process.kill(killed!, 'SIGKILL');
    expect(await r.outcome('long')).toMatchObject({ kind: 'failed', failure: { code: 'INTERNAL_ERROR', retryable: true } });
    expect(processAlive(killed!)).toBe(false);
    // The service's retry (attempt rules) submits the same job again.
    r.events.length = 0;
    await writeFile(join(r.objects.inputDir('long'), 'job.json'), JSON.stringify({ id: 'long', ...TINY }));
    await r.runner.submit(job);
    expect(await r.outcome('long')).toMatchObject({ kind: 'completed' });
    expect(r.runner.workerPids).toHaveLength(1);
    expect(r.runner.workerPids[0]).not.toBe(killed);
  }, 60_000);

  it('cancel stops the job between steps, frees the slot and keeps the worker for the next job', async () => {
    const r = await rig();
    await r.submit('warm');
    await r.outcome('warm');
    const [pid] = r.runner.workerPids;
    const job = await r.submit('long', LONG);
    await denoising(r, 'long');
    await r.runner.cancel(job);
    expect(await r.outcome('long')).toMatchObject({ kind: 'stopped' });
    const progress = JSON.parse(readFileSync(join(r.objects.outputDir('long'), 'progress.json'), 'utf8')) as { phase: string; step: number; total: number };
    expect(progress).toMatchObject({ phase: 'denoising', total: 100 });
    expect(progress.step).toBeLessThan(100);
    expect(existsSync(join(r.objects.outputDir('long'), 'video.mp4'))).toBe(false);
    await r.submit('next');
    expect(await r.outcome('next')).toMatchObject({ kind: 'completed' });
    expect(r.runner.workerPids).toEqual([pid]);
  }, 60_000);

  it('kills a worker that does not stop a cancelled job within the grace period', async () => {
    // The job holds without looking for the cancel (stub:deaf), as a job stuck in a step would: only the kill can end
    // it. (With a 1 ms grace and a job that does look, the job's own stop could, rarely, come first.)
    const r = await rig({ workerGrace: { cancelGraceMs: 50 } });
    const job = await r.submit('long', { ...LONG, prompt: `${LONG.prompt} stub:deaf` });
    await denoising(r, 'long');
    const [pid] = r.runner.workerPids;
    await r.runner.cancel(job);
    expect(await r.outcome('long')).toMatchObject({ kind: 'stopped' });
    await eventually(() => !processAlive(pid!), 15_000, 'the worker killed');
    await r.submit('next');
    expect(await r.outcome('next')).toMatchObject({ kind: 'completed' });
  }, 60_000);

  it('stop ends every worker, idle or busy, and reports nothing for the interrupted job', async () => {
    const idle = await rig();
    await idle.submit('a');
    await idle.outcome('a');
    const [idlePid] = idle.runner.workerPids;
    const busy = await rig();
    await busy.submit('long', LONG);
    await denoising(busy, 'long');
    const [busyPid] = busy.runner.workerPids;

    await Promise.all([idle.runner.stop(), busy.runner.stop()]);

    expect(processAlive(idlePid!)).toBe(false);
    expect(processAlive(busyPid!)).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(busy.events.filter((e) => e.jobId === 'long' && e.kind !== 'progress' && e.kind !== 'started')).toEqual([]);
  }, 60_000);
});
