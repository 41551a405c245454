// Recovery: settles the jobs a restart (or a previous holder of the queue) left unfinished, finishes posts a crash
// cut off (the upload sweep), and keeps jobs on the runner reconciled and within their time limit (reconcile.ts).
import type { ServiceContext } from './context.js';
import type { Job } from './job.js';
import { LIVE_STATES } from './job.js';
import { UPLOAD_STALE_MS } from './delivery.js';
import type { CancelTimer, RunnerStatus } from './ports.js';
import { createReconciler } from './reconcile.js';

export interface RecoveryHooks {
  /** Whether this process runs the queue now (dispatch.ts): only the holder settles jobs. */
  readonly holdsQueue: () => boolean;
  /** Moves a job on from what the runner says about it (events.ts). */
  readonly settle: (job: Job, status: RunnerStatus, lostMessage: string) => Promise<void>;
  /** Finishes a delivery found in `uploading` that this process is not posting (delivery.ts). */
  readonly resumeDelivery: (job: Job, reason: 'restart' | 'sweep') => Promise<void>;
}

export function createRecovery(ctx: ServiceContext, hooks: RecoveryHooks) {
  const { store, runner, log, owns, fail } = ctx;
  let stopSweeping: CancelTimer | undefined;

  const reconciler = createReconciler({
    owns: (job) => hooks.holdsQueue() && owns(job),
    store,
    runner,
    clock: ctx.clock,
    logger: log,
    limits: ctx.limits,
    settle: (job, status) => hooks.settle(job, status, 'The GPU job stopped without telling the bot, and it could not be resumed.'),
    timeOut: async (job, limitMs) => {
      const failed = await fail(job, {
        code: 'TIMEOUT',
        message: `The job ran longer than its ${formatLimit(limitMs)} time limit and was stopped.`,
        retryable: false,
      });
      if (failed) await runner.cancel(job).catch((err: unknown) => log.warn({ jobId: job.id, err }, 'runner cancel after a time-out failed'));
    },
  });

  /** After a restart: settle every unfinished job so none is lost and none is posted twice. */
  async function recover(): Promise<void> {
    const unfinished = (await store.listByState(LIVE_STATES)).filter(owns);
    for (const job of unfinished) {
      const jlog = log.child({ jobId: job.id, state: job.state });
      try {
        if (job.state === 'queued') continue;
        if (job.state === 'enhancing') {
          await store.transition(job.id, ['enhancing'], 'queued');
          continue;
        }
        if (job.state === 'uploading') {
          await hooks.resumeDelivery(job, 'restart');
          continue;
        }
        const status = await runner.describe(job);
        jlog.info({ runner: status.status }, 'recovering job');
        await hooks.settle(job, status, 'The bot restarted while this job ran, and it could not be resumed.');
      } catch (err) {
        jlog.error({ err }, 'recovery failed for job');
      }
    }
  }

  /** Finishes posts a crash cut off, in the background, and reconciles jobs on the runner every reconcileIntervalMs. */
  function start(): void {
    stopSweeping = ctx.clock.setInterval(() => {
      void store
        .listByState(['uploading'])
        .then((jobs) => Promise.all(jobs.filter((j) => hooks.holdsQueue() && owns(j)).map((j) => hooks.resumeDelivery(j, 'sweep'))))
        .catch((err: unknown) => log.warn({ err }, 'upload sweep failed'));
    }, UPLOAD_STALE_MS / 2);
    reconciler.start();
  }

  async function stop(): Promise<void> {
    stopSweeping?.();
    stopSweeping = undefined;
    await reconciler.stop();
  }

  return { recover, reconcile: reconciler.reconcile, start, stop };
}

/** "90-minute", "2-hour". */
function formatLimit(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes >= 120 && minutes % 60 === 0 ? `${minutes / 60}-hour` : `${minutes}-minute`;
}
