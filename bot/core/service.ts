// JobService: the one use case every chat adapter calls. Owns the job state machine; depends only on ports.
import { OPEN_POLICY, createAccessGuard, type AccessPolicy, type Actor } from './access.js';
import { estimateTextTokens } from './command.js';
import { JOB_FILE, jobFileBytes } from './contract.js';
import type { JobFailure } from './errors.js';
import { RunnerSubmitError, UserFacingError } from './errors.js';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from './image.js';
import { MAX_PROMPT_CHARS, errorRule } from './limits.js';
import { createIntake } from './intake.js';
import { UPLOAD_STALE_MS, createDelivery } from './delivery.js';
import type { Job, JobPatch, JobState } from './job.js';
import { LIVE_STATES, RUNNER_STATES, canTransition, isFinal } from './job.js';
import { DEFAULT_PRESET_ID, getPreset } from './presets.js';
import { DEFAULT_RECONCILE_LIMITS, createReconciler, type ReconcileLimits } from './reconcile.js';
import type { ChatSurface, Clock, Enhancer, IdGenerator, JobStore, Logger, ObjectStore, Runner, RunnerEvent, RunnerStatus } from './ports.js';
import { DEFAULT_QUEUE_POLL_MS, type JobScope } from './scope.js';
import { describeJob } from './status.js';
import { EditThrottle, type BudgetLanes } from './throttle.js';

export type { AccessPolicy, Actor };
export type { NewVideoRequest, RedoRequest, SubmitRequest, Submitted } from './intake.js';

export interface JobServiceLimits extends ReconcileLimits {
  readonly maxConcurrentJobs: number;
  readonly maxAttempts: number;
  /** Back-off before retry n is retryBackoffMs·2^(n-1), at most maxRetryBackoffMs. */
  readonly retryBackoffMs: number;
  readonly maxRetryBackoffMs: number;
  readonly imageLimits: ImageLimits;
  readonly statusIntervalMs: number;
}

export interface JobServiceDeps {
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly runner: Runner;
  readonly enhancer?: Enhancer;
  readonly chats: readonly ChatSurface[];
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  readonly defaultModel: string;
  readonly access?: Partial<AccessPolicy>;
  readonly limits?: Partial<JobServiceLimits>;
  /** How to tell someone where to configure an enhancer (differs between local and AWS). */
  readonly enhancerSetupHint?: string;
  readonly presignTtlSeconds?: number;
  /** Refuses, at submit, a model this machine cannot run (a GPU model where there is no GPU), with a UserFacingError. */
  readonly checkModel?: (model: string) => void;
  /** Which jobs this process starts and settles, and the lease on a queue shared with other processes (scope.ts). */
  readonly scope?: JobScope;
}

export interface EnhancedPrompt {
  readonly text: string;
  readonly tokens: number;
  readonly limit: number;
  /** Set when the prompt is longer than the model reads; says so in one sentence. */
  readonly warning?: string;
}

const DEFAULT_LIMITS: JobServiceLimits = {
  maxConcurrentJobs: 1,
  maxAttempts: 3,
  retryBackoffMs: 30_000,
  maxRetryBackoffMs: 5 * 60_000,
  ...DEFAULT_RECONCILE_LIMITS,
  imageLimits: DEFAULT_IMAGE_LIMITS,
  statusIntervalMs: 1500,
};


export type JobService = ReturnType<typeof createJobService>;

export function createJobService(deps: JobServiceDeps) {
  const { store, objects, runner, enhancer, clock, ids } = deps;
  const log = deps.logger.child({ component: 'jobs' });
  const limits: JobServiceLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const guard = createAccessGuard({ ...OPEN_POLICY, ...deps.access }, store, clock);
  const { isAdmin } = guard;
  const chats = new Map(deps.chats.map((c) => [c.platform, c]));
  const retryTimers = new Set<ReturnType<typeof setTimeout>>();
  const inFlight = new Set<Promise<void>>();
  const statusEdits = new EditThrottle<Job>(
    async (_jobId, job) => {
      const chat = chats.get(job.conversation.platform);
      if (!chat) return;
      const position = job.state === 'queued' ? await queuePosition(job) : undefined;
      await chat.showStatus(job, describeJob(job, position));
    },
    {
      minIntervalMs: limits.statusIntervalMs,
      // Real time, not `clock`: the platforms count edits in real time, and tests may hold the service's clock still.
      now: () => performance.now(),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
      onError: (jobId, error) => log.warn({ jobId, err: error }, 'status update failed'),
      // One budget per channel and per workspace, shared by every job there (each surface says its platform's limits).
      lanesOf: (job) => editLanes(chats.get(job.conversation.platform), job),
      isFinal: (job) => isFinal(job.state),
      onSettled: (jobId, edits) => log.info({ jobId, statusEdits: edits }, 'status edits for job'),
    },
  );
  let pumping: Promise<void> | undefined;
  let pumpAgain = false;
  let stopped = false;
  let sweeper: ReturnType<typeof setInterval> | undefined;
  const scope = deps.scope ?? {};
  const owns = scope.owns ?? (() => true);
  /** Whether this process holds the queue (always, without a lease); it settles the queue's jobs when it gains it. */
  let holdingQueue = false;
  let takingQueue: Promise<boolean> | undefined;
  let queuePoll: ReturnType<typeof setInterval> | undefined;

  /** The one door for requests (new videos, Retry, Regenerate, Edit prompt): see intake.ts. */
  const intake = createIntake({
    store,
    objects,
    chats,
    clock,
    ids,
    log,
    defaultModel: deps.defaultModel,
    imageLimits: limits.imageLimits,
    guard,
    ...(deps.checkModel ? { checkModel: deps.checkModel } : {}),
    created: (job) => {
      void showStatus(job, true);
      pump();
    },
  });

  async function mustGet(jobId: string): Promise<Job> {
    const job = await store.get(jobId);
    if (!job) throw new UserFacingError('JOB_NOT_FOUND', `There is no job ${jobId}.`);
    return job;
  }

  async function cancel(jobId: string, by: Actor): Promise<Job> {
    const job = await mustGet(jobId);
    const own = job.requester.platform === by.platform && job.requester.userId === by.userId;
    if (!own && !isAdmin(by)) {
      throw new UserFacingError('NOT_ALLOWED', 'Only the person who asked for this video, or an admin, can cancel it.');
    }
    if (isFinal(job.state) || job.state === 'uploading') {
      throw new UserFacingError('NOT_CANCELLABLE', `Job ${job.id} is already ${job.state === 'uploading' ? 'being posted' : job.state}; there is nothing to cancel.`);
    }
    const cancelled = await store.transition(job.id, [job.state], 'cancelled', { finishedAt: clock.now() });
    if (!cancelled) return cancel(jobId, by); // it moved on meanwhile; decide again on the fresh state
    log.info({ jobId, by: by.userId }, 'job cancelled');
    if (RUNNER_STATES.includes(job.state)) {
      await runner.cancel(job).catch((err) => log.warn({ jobId, err }, 'runner cancel failed'));
    }
    await showStatus(cancelled, true);
    pump();
    return cancelled;
  }

  async function move(job: Job, to: JobState, patch?: JobPatch, from?: readonly JobState[]): Promise<Job | undefined> {
    const sources = from ?? [job.state];
    if (!sources.every((s) => canTransition(s, to))) throw new Error(`bug: ${sources.join('|')} → ${to} is not a transition`);
    const next = await store.transition(job.id, sources, to, patch);
    if (next) {
      log.debug({ jobId: job.id, from: job.state, to }, 'transition');
      void showStatus(next, isFinal(to) || to === 'uploading');
    }
    return next;
  }

  async function fail(job: Job, failure: JobFailure): Promise<Job | undefined> {
    const live = LIVE_STATES.filter((s) => s !== 'uploading' || failure.code.startsWith('DELIVERY'));
    log.warn({ jobId: job.id, code: failure.code, reason: failure.message }, 'job failed');
    const failed = await store.transition(job.id, live, 'failed', { failure, finishedAt: clock.now() });
    if (failed) void showStatus(failed, true);
    pump();
    return failed;
  }

  async function queuePosition(job: Job): Promise<number> {
    const queued = await store.listByState(['queued']);
    return queued.filter((j) => j.createdAt < job.createdAt || (j.createdAt === job.createdAt && j.id <= job.id)).length;
  }

  async function showStatus(job: Job, urgent = false): Promise<void> {
    await statusEdits.push(job.id, job, urgent);
    if (isFinal(job.state)) await statusEdits.flush(job.id);
  }

  /** Starts queued jobs while there is capacity. Safe to call often; runs one pass at a time. */
  function pump(): void {
    if (stopped) return;
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = (async () => {
      do {
        pumpAgain = false;
        try {
          await pumpOnce();
        } catch (err) {
          log.error({ err }, 'dispatch failed');
        }
      } while (pumpAgain && !stopped);
    })().finally(() => {
      pumping = undefined;
      // A pump() between the loop's last check and here found `pumping` still set: run the pass it asked for.
      if (pumpAgain) pump();
    });
  }

  /** Takes or renews the queue lease; on gaining the queue, first settles the jobs a previous holder left. */
  function holdQueue(): Promise<boolean> {
    takingQueue ??= (async () => {
      const held = scope.lease ? await scope.lease.hold().catch((err: unknown) => (log.warn({ err }, 'taking the queue lease failed'), false)) : true;
      const gained = held && !holdingQueue;
      if (scope.lease && held !== holdingQueue) log.info(held ? 'this process now runs the job queue' : 'another process runs the job queue now');
      holdingQueue = held;
      if (gained) await recover();
      return held;
    })().finally(() => {
      takingQueue = undefined;
    });
    return takingQueue;
  }

  async function pumpOnce(): Promise<void> {
    if (!(await holdQueue())) return;
    const active = await store.listByState(['enhancing', ...RUNNER_STATES]);
    let free = limits.maxConcurrentJobs - active.length;
    const queued = (await store.listByState(['queued'])).filter(owns).sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
    const now = clock.now();
    for (const job of queued) {
      if (free <= 0) break;
      // Capacity and internal errors back off exponentially; a job cut off by a restart goes again at once.
      const backoff =
        job.attempts > 0 && job.failure?.code !== 'INTERRUPTED' ? Math.min(limits.retryBackoffMs * 2 ** (job.attempts - 1), limits.maxRetryBackoffMs) : 0;
      const notBefore = job.updatedAt + backoff;
      if (now < notBefore) {
        scheduleRetry(notBefore - now);
        continue;
      }
      free--;
      const dispatching = dispatch(job).finally(() => inFlight.delete(dispatching));
      inFlight.add(dispatching);
    }
    // Everyone still waiting moved up a place.
    for (const job of queued) if (job.state === 'queued') void showStatus(job);
  }

  function scheduleRetry(ms: number): void {
    const timer = setTimeout(() => {
      retryTimers.delete(timer);
      pump();
    }, ms);
    retryTimers.add(timer);
  }

  async function dispatch(queued: Job): Promise<void> {
    let job: Job | undefined = queued;
    try {
      if (job.enhance && job.params.prompt === job.originalPrompt) {
        job = await move(job, 'enhancing');
        if (!job) return;
        const prompt = await enhanceForJob(job);
        job = await move(job, 'submitting', { params: { ...job.params, prompt } });
      } else {
        job = await move(job, 'submitting');
      }
      if (!job) return;
      await objects.putInput(job.id, JOB_FILE, jobFileBytes(job));
      // A cancel that came while the input was written: start nothing.
      if ((await store.get(job.id))?.state !== 'submitting') return;
      let ref: string;
      try {
        ({ ref } = await runner.submit(job));
      } catch (err) {
        await submitFailed(job, err);
        return;
      }
      const attempt = { runnerRef: ref, attempts: job.attempts + 1, startedAt: clock.now() };
      const started = await store.transition(job.id, ['submitting'], 'starting', attempt);
      if (started) void showStatus(started);
      else await leftWhileSubmitting({ ...job, ...attempt, state: 'starting' });
    } catch (err) {
      log.error({ jobId: queued.id, err }, 'dispatch failed');
      if (job) await retryOrFail(job, { code: 'INTERNAL_ERROR', message: 'The GPU job could not be started. Try again in a minute.', retryable: true });
    }
  }

  /**
   * The job was cancelled (or failed) while the runner started it: the runner's cancel came before there was
   * anything to stop, so stop what has just been started. `started` carries the new attempt's runner ref.
   */
  async function leftWhileSubmitting(started: Job): Promise<void> {
    const now = await store.get(started.id);
    if (now && !isFinal(now.state)) {
      log.info({ jobId: started.id, state: now.state }, 'job moved on while the runner started it');
      return;
    }
    log.info({ jobId: started.id, state: now?.state }, 'job ended while the runner started it; stopping the runner job');
    await runner.cancel(started).catch((err: unknown) => log.warn({ jobId: started.id, err }, 'runner cancel failed'));
    pump();
  }

  /**
   * runner.submit threw. A refusal (RunnerSubmitError.permanent: no quota, an invalid request, no permission) fails the
   * job at once with the runner's sentence and an operator alert; anything else counts as an attempt and is retried
   * after a back-off, up to maxAttempts.
   */
  async function submitFailed(job: Job, err: unknown): Promise<void> {
    if (err instanceof RunnerSubmitError && err.permanent) {
      // `alert` is a stable field for a log metric filter / alarm: the operator has something to fix.
      log.error({ jobId: job.id, alert: 'SUBMIT_PERMANENT', code: err.code, detail: err.detail }, 'the GPU backend refused the job; failing it without a retry');
      await fail(job, { code: err.code, message: err.message, retryable: false });
      return;
    }
    const detail = err instanceof RunnerSubmitError ? err.detail : undefined;
    log.error({ jobId: job.id, err, ...(detail ? { detail } : {}) }, 'submit failed; the attempt counts');
    // A request that timed out may still have started the job: stop it so the next attempt does not run beside it.
    await runner.cancel(job).catch((cancelErr: unknown) => log.warn({ jobId: job.id, err: cancelErr }, 'runner cancel after a failed submit failed'));
    const attempts = job.attempts + 1;
    const failure: JobFailure =
      err instanceof RunnerSubmitError
        ? {
            code: err.code,
            message: attempts >= limits.maxAttempts ? `The GPU backend could not be reached in ${attempts} tries, so the job could not start. Try again in a few minutes.` : err.message,
            retryable: true,
          }
        : err instanceof UserFacingError
          ? { code: err.code, message: err.message, retryable: true }
          : { code: 'INTERNAL_ERROR', message: 'The GPU job could not be started. Try again in a minute.', retryable: true };
    // A UserFacingError is the runner's own sentence: retried only where its code says a retry can help.
    await retryOrFail(job, failure, attempts, !(err instanceof UserFacingError));
  }

  async function enhanceForJob(job: Job): Promise<string> {
    if (!enhancer) return job.params.prompt;
    try {
      const text = (await enhancer.enhance(job.params.prompt)).trim();
      // The job refuses a prompt over the shared limit; the model reads far less than that anyway.
      if (text.length > MAX_PROMPT_CHARS) {
        log.warn({ jobId: job.id, chars: text.length }, 'the enhanced prompt is over the prompt limit; using the original prompt');
        return job.params.prompt;
      }
      return text || job.params.prompt;
    } catch (err) {
      log.warn({ jobId: job.id, err }, 'enhancement failed; using the original prompt');
      return job.params.prompt;
    }
  }

  /**
   * Requeues a job whose attempt failed where another attempt can help, else fails it. `attempts`: the attempts so
   * far, when the failed one was not yet counted (a failed submit); `always`: retry whatever the code.
   */
  async function retryOrFail(job: Job, failure: JobFailure, attemptsSoFar?: number, always = false): Promise<void> {
    const fresh = (await store.get(job.id)) ?? job;
    // Final, or already requeued by whoever saw the failure first.
    if (isFinal(fresh.state) || fresh.state === 'queued') return;
    const attempts = attemptsSoFar ?? Math.max(fresh.attempts, 1);
    // Runner-side failures worth trying again automatically: `auto_retry` in processing/limits.json.
    const retryable = failure.retryable && (always || errorRule(failure.code)?.autoRetry === true);
    if (retryable && attempts < limits.maxAttempts && fresh.state !== 'uploading') {
      const requeued = await store.transition(fresh.id, [fresh.state], 'queued', { attempts, failure });
      if (requeued) {
        log.info({ jobId: job.id, attempts, code: failure.code }, 'retrying job');
        void showStatus(requeued);
        pump();
        return;
      }
    }
    await fail(fresh, failure);
  }

  /** Applies one runner event. Duplicate and out-of-order events are no-ops thanks to compare-and-set. */
  async function handleRunnerEvent(event: RunnerEvent): Promise<void> {
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

  /** An event names an earlier attempt when its ref is not the job's current one (while submitting: is the previous one). */
  function isStale(job: Job, event: RunnerEvent): boolean {
    if (!event.ref || !job.runnerRef) return false;
    return job.state === 'submitting' ? event.ref === job.runnerRef : event.ref !== job.runnerRef;
  }

  /** Posting finished videos exactly once, and finishing posts a crash cut off (delivery.ts). */
  const delivery = createDelivery({
    store,
    objects,
    chats,
    clock,
    log,
    ...(deps.presignTtlSeconds !== undefined ? { presignTtlSeconds: deps.presignTtlSeconds } : {}),
    fail,
    showStatus,
    finished: () => pump(),
  });
  const { deliver } = delivery;

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

  const reconciler = createReconciler({
    owns: (job) => holdingQueue && owns(job),
    store,
    runner,
    clock,
    logger: log,
    limits,
    settle: (job, status) => settle(job, status, 'The GPU job stopped without telling the bot, and it could not be resumed.'),
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
          await delivery.resume(job, 'restart');
          continue;
        }
        const status = await runner.describe(job);
        jlog.info({ runner: status.status }, 'recovering job');
        await settle(job, status, 'The bot restarted while this job ran, and it could not be resumed.');
      } catch (err) {
        jlog.error({ err }, 'recovery failed for job');
      }
    }
  }

  async function enhance(prompt: string): Promise<EnhancedPrompt> {
    const text = prompt.trim();
    if (!text) throw new UserFacingError('INVALID_COMMAND', 'Give a prompt to enhance, e.g. `/enhance a bee on a flower`.');
    if (!enhancer) {
      throw new UserFacingError(
        'ENHANCER_NOT_CONFIGURED',
        deps.enhancerSetupHint ??
          'Prompt enhancement is not set up. Point the bot at any OpenAI-compatible chat endpoint: set OPENAI_BASE_URL (e.g. http://localhost:11434/v1 for Ollama) and OPENAI_MODEL (e.g. llama3.1), then restart.',
      );
    }
    const enhanced = (await enhancer.enhance(text)).trim();
    return promptReport(enhanced || text);
  }

  function promptReport(text: string): EnhancedPrompt {
    const tokens = estimateTextTokens(text);
    // The default model's text encoder limit (presets.json's max_text_tokens).
    const limit = (getPreset(deps.defaultModel) ?? getPreset(DEFAULT_PRESET_ID)!).maxTextTokens;
    return {
      text,
      tokens,
      limit,
      ...(tokens > limit ? { warning: `This prompt is about ${tokens} tokens; CogVideoX reads only the first ${limit}, so the end will be cut.` } : {}),
    };
  }

  async function start(): Promise<void> {
    stopped = false;
    await runner.start(handleRunnerEvent);
    await holdQueue();
    sweeper = setInterval(() => {
      void store
        .listByState(['uploading'])
        .then((jobs) => Promise.all(jobs.filter((j) => holdingQueue && owns(j)).map((j) => delivery.resume(j, 'sweep'))))
        .catch((err: unknown) => log.warn({ err }, 'upload sweep failed'));
    }, UPLOAD_STALE_MS / 2);
    sweeper.unref?.();
    reconciler.start();
    const pollMs = scope.queuePollMs ?? (scope.lease ? DEFAULT_QUEUE_POLL_MS : undefined);
    if (pollMs) {
      queuePoll = setInterval(() => pump(), pollMs);
      queuePoll.unref?.();
    }
    pump();
  }

  async function stop(): Promise<void> {
    stopped = true;
    clearInterval(sweeper);
    await reconciler.stop();
    for (const t of retryTimers) clearTimeout(t);
    retryTimers.clear();
    clearInterval(queuePoll);
    await idle();
    await takingQueue;
    await runner.stop();
    if (holdingQueue) await scope.lease?.release().catch((err: unknown) => log.warn({ err }, 'releasing the queue lease failed; it expires by itself'));
    holdingQueue = false;
  }

  /** Waits until no dispatch pass is running (for tests and orderly shutdown). */
  async function idle(): Promise<void> {
    while (pumping || inFlight.size > 0) {
      if (pumping) await pumping;
      await Promise.all([...inFlight]);
    }
  }

  return {
    submit: intake.submit,
    cancel,
    get: (id: string) => store.get(id),
    list: (actor: Actor, limit = 10) => store.listByUser(actor.platform, actor.userId, limit),
    enhance,
    promptReport,
    handleRunnerEvent,
    recover,
    /** One reconciliation pass now (it also runs every reconcileIntervalMs). */
    reconcile: reconciler.reconcile,
    start,
    stop,
    idle,
    isAdmin,
    describe: async (job: Job) => describeJob(job, job.state === 'queued' ? await queuePosition(job) : undefined),
    hasEnhancer: () => enhancer !== undefined,
    presetOf: (job: Job) => getPreset(job.params.model),
  };
}

/** The shared edit budgets a status edit of `job` draws on: its channel's and its workspace's, as its surface says. */
function editLanes(chat: ChatSurface | undefined, job: Job): BudgetLanes {
  const budgets = chat?.editBudgets;
  if (!budgets) return [];
  const platform = job.conversation.platform;
  return [
    ...(budgets.perChannel ? [{ key: `${platform}:channel:${job.conversation.channelId}`, budget: budgets.perChannel }] : []),
    ...(budgets.perWorkspace ? [{ key: `${platform}:workspace`, budget: budgets.perWorkspace }] : []),
  ];
}

/** "90 minutes", "2 hours". */
function formatLimit(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  return minutes >= 120 && minutes % 60 === 0 ? `${minutes / 60}-hour` : `${minutes}-minute`;
}
