// Which jobs one process looks after when several processes share one job store (the bot, `videobot generate`).
import type { Job } from './job.js';

/**
 * A lease on the shared queue: at most one process holds it at a time. Only the holder starts or settles jobs,
 * so two processes on one machine never run two GPU jobs past the concurrency limit or settle each other's jobs.
 */
export interface QueueLease {
  /** Takes the lease if it is free (or its holder is gone or late), or renews it; true while this process holds it. */
  hold(): Promise<boolean>;
  /** Gives it up (a clean stop), so the next process need not wait for it to expire. */
  release(): Promise<void>;
}

export interface JobScope {
  /**
   * The jobs this process starts, settles after a restart and reconciles; default: every job in the store.
   * A one-shot command owns only the job it created.
   */
  readonly owns?: (job: Job) => boolean;
  /** Without it every process dispatches on its own (the AWS bot's replicas rely on compare-and-set alone). */
  readonly lease?: QueueLease;
  /**
   * How often to look at the queue for jobs other processes added or made room for, and to renew the lease
   * (default: every second with a lease, else only on this process's own submits and events).
   */
  readonly queuePollMs?: number;
}

/** How often the lease is renewed when the scope does not say; the lease itself lasts several times this. */
export const DEFAULT_QUEUE_POLL_MS = 1000;
