// Reading a running job's outputs in S3, shared by both SageMaker runners.
import type { JobProgress } from '../core/job.js';
import type { Logger } from '../core/ports.js';
import { OUTPUT_FILES, parseProgress } from '../core/contract.js';
import type { S3ObjectStore } from './s3.js';

/** What was last read of one job's progress.json. */
export interface ProgressSeen {
  last?: string;
}

/** The job's progress.json when it changed since `seen.last` (remembered there); undefined when absent, unchanged or unreadable as progress. */
export async function readNewProgress(objects: S3ObjectStore, jobId: string, seen: ProgressSeen): Promise<JobProgress | undefined> {
  const bytes = await objects.getOutput(jobId, OUTPUT_FILES.progress);
  if (!bytes) return undefined;
  const raw = new TextDecoder().decode(bytes);
  if (raw === seen.last) return undefined;
  seen.last = raw;
  return parseProgress(raw);
}

/**
 * Reads the progress.json of every running job a runner watches, every `intervalMs`, and hands each change on.
 * One read at a time: a slow S3 never piles polls up. `ref` names the attempt (a processing job or an inference id).
 */
export class ProgressPoller {
  private readonly watched = new Map<string, ProgressSeen & { readonly ref: string }>();
  private onProgress: ((jobId: string, ref: string, progress: JobProgress) => Promise<void>) | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private polling = false;

  constructor(
    private readonly objects: S3ObjectStore,
    private readonly log: Logger,
    private readonly intervalMs = 5000,
  ) {}

  start(onProgress: (jobId: string, ref: string, progress: JobProgress) => Promise<void>): void {
    this.onProgress = onProgress;
    this.timer ??= setInterval(() => void this.pollAll(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.onProgress = undefined;
  }

  /** Watches the job's attempt `ref` (a new attempt starts afresh). */
  watch(jobId: string, ref: string): void {
    if (this.watched.get(jobId)?.ref !== ref) this.watched.set(jobId, { ref });
  }

  unwatch(jobId: string): void {
    this.watched.delete(jobId);
  }

  /** Stops watching and reads the job's progress.json once more, so its last step is reported before the outcome. */
  async finalRead(jobId: string, ref: string): Promise<void> {
    this.watched.delete(jobId);
    await this.readOne(jobId, { ref });
  }

  private async pollAll(): Promise<void> {
    if (this.polling || !this.onProgress) return;
    this.polling = true;
    try {
      await Promise.all([...this.watched].map(([jobId, seen]) => this.readOne(jobId, seen)));
    } finally {
      this.polling = false;
    }
  }

  private async readOne(jobId: string, seen: ProgressSeen & { readonly ref: string }): Promise<void> {
    try {
      const progress = await readNewProgress(this.objects, jobId, seen);
      if (progress && this.onProgress) await this.onProgress(jobId, seen.ref, progress);
    } catch (err) {
      this.log.warn({ jobId, err }, 'reading progress failed');
    }
  }
}
