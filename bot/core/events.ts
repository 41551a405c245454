// What the runner says about a job — its events while it runs, its status when asked — turned into state moves.
import type { ServiceContext } from './context.js';
import type { JobFailure } from './errors.js';
import type { Job, JobState } from './job.js';
import { isFinal } from './job.js';
import type { RunnerEvent, RunnerStatus } from './ports.js';

export interface RunnerReportHooks {
  /** Claims the finished job's delivery and posts it (delivery.ts). */
  readonly deliver: (job: Job, metadata: Record<string, unknown>) => Promise<void>;
  /** Requeues a failed attempt where another can help, else fails the job (dispatch.ts). */
  readonly retryOrFail: (job: Job, failure: JobFailure) => Promise<void>;
}

export function createRunnerReports(ctx: ServiceContext, hooks: RunnerReportHooks) {
  const { store, clock, log, move, fail, showStatus } = ctx;
  const { deliver, retryOrFail } = hooks;

  /** Applies one runner event. Duplicate and out-of-order events are no-ops thanks to compare-and-set. */
  async function handleEvent(event: RunnerEvent): Promise<void> {
    const job = await store.get(event.jobId);
    if (!job) {
      log.warn({ jobId: event.jobId, kind: event.kind }, 'event for an unknown job');
      return;
    }
    if (isFinal(job.state) || job.state === 'queued' || job.state === 'enhancing') {
      log.debug({ jobId: job.id, kind: event.kind, state: job.state }, 'ignoring event for a job not on the GPU');
      return;
    }
    if (isStale(job, event)) {
      log.info({ jobId: job.id, kind: event.kind, ref: event.ref, current: job.runnerRef }, 'ignoring an event of an earlier attempt');
      return;
    }
    switch (event.kind) {
      case 'started':
        if (job.state === 'submitting') await move(job, 'starting', { startedAt: clock.now() });
        return;
      case 'progress': {
        const phase = event.progress.phase;
        const target: JobState = phase === 'denoising' ? 'running' : phase === 'decoding' || phase === 'encoding' ? 'encoding' : 'starting';
        const order: JobState[] = ['submitting', 'starting', 'running', 'encoding'];
        if (order.indexOf(target) < order.indexOf(job.state) || job.state === 'uploading') return;
        if (target !== job.state) {
          const moved = await store.transition(job.id, [job.state], target, { progress: event.progress });
          if (moved) void showStatus(moved, target === 'encoding');
          return;
        }
        if (await store.saveProgress(job.id, [target], event.progress)) {
          void showStatus({ ...job, progress: event.progress });
        }
        return;
      }
      case 'completed':
        await deliver(job, event.metadata);
        return;
      case 'failed':
        if (job.state === 'uploading') return;
        await retryOrFail(job, event.failure);
        return;
      case 'stopped':
        if (job.state !== 'uploading') {
          await fail(job, { code: 'TIMEOUT', message: 'The GPU job was stopped before it finished (time limit reached).', retryable: true });
        }
        return;
    }
  }

  /**
   * Moves a job on from what the runner says about it (after a restart, or when its events went quiet).
   * `lostMessage`: what the user reads when the runner no longer has the job and another attempt is made.
   */
  async function settle(job: Job, status: RunnerStatus, lostMessage: string): Promise<void> {
    switch (status.status) {
      case 'running':
        return;
      case 'completed':
        return deliver(job, status.metadata);
      case 'failed':
        return retryOrFail(job, status.failure);
      case 'stopped':
      case 'unknown':
        return retryOrFail(job, { code: 'INTERRUPTED', message: lostMessage, retryable: true });
    }
  }

  return { handleEvent, settle };
}

/** An event names an earlier attempt when its ref is not the job's current one (while submitting: is the previous one). */
function isStale(job: Job, event: RunnerEvent): boolean {
  if (!event.ref || !job.runnerRef) return false;
  return job.state === 'submitting' ? event.ref === job.runnerRef : event.ref !== job.runnerRef;
}
