// The stub job (stub-job.mjs): the processing contract without torch, on cue, for lifecycle tests of the real runners.
// One real tiny-random end to end per adapter stays (test/local/runner.test.ts, worker.test.ts, test/slack/local-runner,
// test/discord/local-runner, test/cli.test.ts); everything else runs against this stub.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FsObjectStore } from '../../bot/local/files.js';
import { LocalRunner, type LocalRunnerOptions } from '../../bot/local/runner.js';
import { testRunnerOptions } from './local-runner.js';
import { REPO_ROOT } from './video.js';

export const STUB_JOB = join(REPO_ROOT, 'test', 'support', 'stub-job.mjs');
/** An executable that takes `-m processing run|serve|probe …` like the venv's python: VIDEOBOT_PYTHON for a real bot process. */
export const STUB_PYTHON = join(REPO_ROOT, 'test', 'support', 'stub-python');

/** `[node, stub-job.mjs, 'run' | 'serve']`: a LocalRunner's jobCommand / workerCommand. */
export function stubCommand(mode: 'run' | 'serve'): string[] {
  return [process.execPath, STUB_JOB, mode];
}

/** The real LocalRunner running the stub job (one process per job, or resident stub workers). */
export function stubLocalRunner(objects: FsObjectStore, options: Partial<LocalRunnerOptions> = {}): LocalRunner {
  return new LocalRunner(
    testRunnerOptions(objects, {
      python: process.execPath,
      jobCommand: stubCommand('run'),
      workerCommand: stubCommand('serve'),
      timeoutMs: 60_000,
      pollMs: 20,
      ...options,
    }),
  );
}

/** Lets a job started with the `stub:hold` cue go on past its first step. */
export function release(objects: FsObjectStore, jobId: string): void {
  writeFileSync(join(objects.outputDir(jobId), 'release'), '');
}

/** True once a `stub:hold` job is holding (its first denoising step is written). */
export function holding(objects: FsObjectStore, jobId: string): boolean {
  return holdingIn(objects.outputDir(jobId));
}

/** For a job of a bot process (its output folder): releases it once it holds; call it from an eventually() loop. */
export function releaseWhenHolding(outputDir: string): void {
  if (holdingIn(outputDir)) writeFileSync(join(outputDir, 'release'), '');
}

function holdingIn(outputDir: string): boolean {
  try {
    const p = JSON.parse(readFileSync(join(outputDir, 'progress.json'), 'utf8')) as { phase?: string; step?: number };
    return p.phase === 'denoising' && (p.step ?? 0) >= 1;
  } catch {
    return false;
  }
}
