// JobService: the one use case every chat adapter calls. It composes the job's lifecycle, one stage per module —
// intake (intake.ts), dispatch (dispatch.ts), runner reports (events.ts), delivery (delivery.ts), recovery and
// reconciliation (recovery.ts, reconcile.ts), queries (queries.ts) — around one shared context (context.ts).
import { createAdmin } from './admin.js';
import { createServiceContext, type JobServiceDeps } from './context.js';
import { createDelivery } from './delivery.js';
import { createDispatch, type Dispatch } from './dispatch.js';
import { createRunnerReports } from './events.js';
import { createHistory } from './history.js';
import { createIntake } from './intake.js';
import { moderatedEnhancer, screenFor } from './moderation.js';
import type { JobService } from './ports.js';
import { createQueries } from './queries.js';
import { createRecovery } from './recovery.js';
import { UserFacingError } from './errors.js';

export type { AccessPolicy, Actor } from './access.js';
export type { JobServiceDeps, JobServiceLimits } from './context.js';
export type { CombineRequest, ExtendRequest, NewVideoRequest, RedoRequest, SubmitRequest, Submitted } from './intake.js';
export type { EnhancedPrompt, JobService } from './ports.js';

/** What the composition root holds: the adapters' JobService, plus what tests use to wait for and force work. */
export interface RunningJobService extends JobService {
  /** Waits until no dispatch pass is running. */
  idle(): Promise<void>;
  /** One reconciliation pass now (it also runs every reconcileIntervalMs). */
  reconcile(): Promise<void>;
}

export function createJobService(given: JobServiceDeps): RunningJobService {
  // Moderation screens every request at intake, and the enhancer's input and output (moderation.ts).
  const screen = screenFor(given);
  const deps = screen && given.enhancer ? { ...given, enhancer: moderatedEnhancer(given.enhancer, screen) } : given;
  // Dispatch is built last; the stages before it only wake the queue once the service runs.
  let dispatch: Dispatch | undefined;
  const ctx = createServiceContext(deps, () => dispatch?.pump());
  const { store, objects, chats, clock, log, limits, guard, runner } = ctx;

  const intake = createIntake({
    store,
    objects,
    chats,
    clock,
    ids: deps.ids,
    log,
    defaultModel: deps.defaultModel,
    imageLimits: limits.imageLimits,
    maxExtensions: limits.maxExtensions,
    guard,
    ...(deps.checkModel ? { checkModel: deps.checkModel } : {}),
    ...(screen ? { screen } : {}),
    created: (job) => {
      void ctx.showStatus(job, true);
      ctx.pump();
    },
  });
  const delivery = createDelivery({
    store,
    objects,
    chats,
    clock,
    log,
    ...(deps.presignTtlSeconds !== undefined ? { presignTtlSeconds: deps.presignTtlSeconds } : {}),
    fail: ctx.fail,
    showStatus: ctx.showStatus,
    finished: ctx.pump,
  });
  const reports = createRunnerReports(ctx, {
    deliver: delivery.deliver,
    retryOrFail: (job, failure) => dispatch!.retryOrFail(job, failure),
  });
  const recovery = createRecovery(ctx, {
    holdsQueue: () => dispatch!.holdsQueue(),
    settle: reports.settle,
    resumeDelivery: delivery.resume,
  });
  const running = createDispatch(ctx, { recover: recovery.recover });
  dispatch = running;

  return {
    submit: intake.submit,
    ...createQueries(ctx),
    admin: (() => {
      const settings = deps.settings;
      if (!settings) return async () => Promise.reject(new UserFacingError('NOT_ALLOWED', 'Admin commands need a settings store, and this bot has none.'));
      return createAdmin({ settings, store, clock, logger: deps.logger, policy: guard.policy, isAdmin: guard.isAdmin, quotaSince: guard.quotaSince }).run;
    })(),
    videos: createHistory({ store, objects, isAdmin: guard.isAdmin, linkTtlSeconds: deps.presignTtlSeconds ?? 3600 }).page,
    async start() {
      await runner.start(reports.handleEvent);
      await running.start();
      recovery.start();
    },
    async stop() {
      const halted = running.stop(); // starts no job from here on
      await recovery.stop();
      await halted;
      await runner.stop();
      await running.releaseQueue();
    },
    idle: running.idle,
    reconcile: recovery.reconcile,
  };
}
