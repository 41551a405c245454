// The real LocalRunner running a shell script that stands in for the processing job, behind a submit that can be
// held open: for "Cancel at the moment a job starts" tests against the loopback chat platforms.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Job } from '../../bot/core/job.js';
import type { Runner, RunnerEvent, RunnerStatus } from '../../bot/core/ports.js';
import type { FsObjectStore } from '../../bot/local/files.js';
import { LocalRunner } from '../../bot/local/runner.js';
import { testRunnerOptions } from './local-runner.js';

/** Delegates to a real runner; the first submit() waits until open() is called, as a slow CreateProcessingJob would. */
export class HeldRunner implements Runner {
  private release!: () => void;
  private readonly held = new Promise<void>((r) => (this.release = r));
  private first = true;
  /** The job whose submit is being held. */
  submitting: Job | undefined;
  constructor(readonly real: LocalRunner) {}
  open(): void {
    this.release();
  }
  async submit(job: Job): Promise<{ ref: string }> {
    if (this.first) {
      this.first = false;
      this.submitting = job;
      await this.held;
    }
    return this.real.submit(job);
  }
  cancel(job: Job): Promise<void> {
    return this.real.cancel(job);
  }
  describe(job: Job): Promise<RunnerStatus> {
    return this.real.describe(job);
  }
  start(onEvent: (e: RunnerEvent) => Promise<void>): Promise<void> {
    return this.real.start(onEvent);
  }
  stop(): Promise<void> {
    return this.real.stop();
  }
}

/**
 * A LocalRunner (one slot) whose "python" is a shell script that notes its pid in `<job dir>/spawned` and then
 * works for a minute. `spawned(job)` is that pid, or undefined if the job's process never started.
 */
export function scriptRunner(objects: FsObjectStore, dir: string): { runner: LocalRunner; spawned: (job: Job) => number | undefined } {
  const python = join(dir, 'python.sh');
  writeFileSync(python, '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --output-dir ] && out="$2"; shift; done\necho $$ > "$out/../spawned"\nexec sleep 60\n');
  chmodSync(python, 0o755);
  const runner = new LocalRunner(testRunnerOptions(objects, { python, cwd: dir, modelsDir: join(dir, 'models'), pollMs: 20 }));
  const spawned = (job: Job) => {
    const file = join(objects.outputDir(job.id), '..', 'spawned');
    return existsSync(file) ? Number(readFileSync(file, 'utf8')) : undefined;
  };
  return { runner, spawned };
}
