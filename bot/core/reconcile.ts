// Reconciliation: a job on the runner that went quiet is looked up and moved on; the time limit is kept from the store.
import type { Job, JobState } from './job.js';
import type { CancelTimer, Clock, JobStore, Logger, Runner, RunnerStatus } from './ports.js';

export interface ReconcileLimits {
  /** How often live jobs are checked (0 = never; recover() still runs at start). */
  readonly reconcileIntervalMs: number;
  /** A job with no event or update for this long is looked up with runner.describe(). */
  readonly quietAfterMs: number;
  /**
   * How long past the runner's own time limit the bot waits for the runner to stop a job before it stops it itself
   * (SageMaker also spends minutes provisioning an instance).
   */
  readonly timeoutGraceMs: number;
  /** Overrides the runner's own time limit (Runner.maxRuntimeMs). */
  readonly jobTimeoutMs?: number;
}

export const DEFAULT_RECONCILE_LIMITS: ReconcileLimits = {
  reconcileIntervalMs: 60_000,
  quietAfterMs: 3 * 60_000,
  timeoutGraceMs: 15 * 60_000,
};

/**
 * Jobs the runner owns once started. `submitting` is left out: its dispatch runs in this process and settles it,
 * and a restart hands one left over to recover().
 */
const WATCHED: readonly JobState[] = ['starting', 'running', 'encoding'];

export interface ReconcilerDeps {
  readonly store: JobStore;
  readonly runner: Runner;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly limits: ReconcileLimits;
  /** The jobs this process looks after (default: all); a one-shot command looks after its own job only. */
  readonly owns?: (job: Job) => boolean;
  /** Moves a job on from what the runner says, as recover() does after a restart. */
  settle(job: Job, status: RunnerStatus): Promise<void>;
  /** Ends a job that outlived its time limit: stops it on the runner and fails it with TIMEOUT. */
  timeOut(job: Job, limitMs: number): Promise<void>;
}

export type Reconciler = ReturnType<typeof createReconciler>;

export function createReconciler(deps: ReconcilerDeps) {
  const { store, runner, clock, limits } = deps;
  const log = deps.logger.child({ component: 'reconcile' });
  let pass: Promise<void> | undefined;
  let stopTimer: CancelTimer | undefined;

  function timeLimitMs(): number | undefined {
    return limits.jobTimeoutMs ?? runner.maxRuntimeMs;
  }

  /** One look at every job on the runner. Runs one pass at a time; a call during a pass waits for that pass. */
  function reconcile(): Promise<void> {
    pass ??= reconcileAll().finally(() => {
      pass = undefined;
    });
    return pass;
  }

  async function reconcileAll(): Promise<void> {
    const jobs = (await store.listByState(WATCHED)).filter(deps.owns ?? (() => true));
    for (const job of jobs) {
      try {
        await reconcileOne(job);
      } catch (err) {
        log.warn({ jobId: job.id, err }, 'reconciling a job failed; trying again next pass');
      }
    }
  }

  async function reconcileOne(job: Job): Promise<void> {
    const now = clock.now();
    const limit = timeLimitMs();
    const since = job.startedAt ?? job.updatedAt;
    if (limit !== undefined && now - since > limit + limits.timeoutGraceMs) {
      log.warn({ jobId: job.id, state: job.state, runningMs: now - since, limitMs: limit }, 'job outlived its time limit; stopping it');
      await deps.timeOut(job, limit);
      return;
    }
    if (now - job.updatedAt < limits.quietAfterMs) return;
    const status = await runner.describe(job);
    if (status.status === 'running') return;
    // An event may have moved the job while the runner was asked; then that event has settled it.
    const fresh = await store.get(job.id);
    if (!fresh || fresh.version !== job.version) return;
    log.warn({ jobId: job.id, state: job.state, runner: status.status, quietMs: now - job.updatedAt }, 'no event came for a job that ended on the runner; settling it');
    await deps.settle(fresh, status);
  }

  function start(): void {
    if (stopTimer || limits.reconcileIntervalMs <= 0) return;
    stopTimer = clock.setInterval(() => void reconcile(), limits.reconcileIntervalMs);
  }

  async function stop(): Promise<void> {
    stopTimer?.();
    stopTimer = undefined;
    await pass;
  }

  return { reconcile, start, stop };
}
