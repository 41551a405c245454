// Dispatch: takes queued jobs to the runner (queued → (enhancing) → submitting → starting) while there is capacity,
// holds the queue lease where processes share one queue, and requeues a failed attempt after a back-off or fails it.
import { JOB_FILE, jobFileBytes } from './contract.js';
import type { ServiceContext } from './context.js';
import type { JobFailure } from './errors.js';
import { RunnerSubmitError, UserFacingError } from './errors.js';
import type { Job } from './job.js';
import type { CancelTimer } from './ports.js';
import { RUNNER_STATES, isFinal } from './job.js';
import { MAX_PROMPT_CHARS, errorRule } from './limits.js';
import { DEFAULT_QUEUE_POLL_MS } from './scope.js';

export interface DispatchHooks {
  /** Settles the jobs a previous holder of the queue left unfinished; called each time this process gains the queue. */
  readonly recover: () => Promise<void>;
}

export type Dispatch = ReturnType<typeof createDispatch>;

export function createDispatch(ctx: ServiceContext, hooks: DispatchHooks) {
  const { store, objects, runner, clock, log, limits, owns, move, fail, showStatus } = ctx;
  const enhancer = ctx.deps.enhancer;
  const lease = ctx.deps.scope?.lease;
  /** One timer, for the earliest back-off to end: it runs the queue then. */
  let retryAt = Infinity;
  let cancelRetry: CancelTimer | undefined;
  const inFlight = new Set<Promise<void>>();
  let pumping: Promise<void> | undefined;
  let pumpAgain = false;
  let stopped = false;
  /** Whether this process holds the queue (always, without a lease); it settles the queue's jobs when it gains it. */
  let holdingQueue = false;
  let takingQueue: Promise<boolean> | undefined;
  let stopPolling: CancelTimer | undefined;

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
      const held = lease ? await lease.hold().catch((err: unknown) => (log.warn({ err }, 'taking the queue lease failed'), false)) : true;
      const gained = held && !holdingQueue;
      if (lease && held !== holdingQueue) log.info(held ? 'this process now runs the job queue' : 'another process runs the job queue now');
      holdingQueue = held;
      if (gained) await hooks.recover();
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
        runQueueAt(notBefore);
        continue;
      }
      free--;
      const dispatching = dispatch(job).finally(() => inFlight.delete(dispatching));
      inFlight.add(dispatching);
    }
    // Everyone still waiting moved up a place.
    for (const job of queued) if (job.state === 'queued') void showStatus(job);
  }

  function runQueueAt(at: number): void {
    if (at >= retryAt) return;
    cancelRetry?.();
    retryAt = at;
    cancelRetry = clock.setTimeout(() => {
      cancelRetry = undefined;
      retryAt = Infinity;
      pump();
    }, at - clock.now());
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

  /** Takes the queue (settling what a previous holder left), polls it where processes share it, and pumps. */
  async function start(): Promise<void> {
    stopped = false;
    await holdQueue();
    const scope = ctx.deps.scope ?? {};
    const pollMs = scope.queuePollMs ?? (lease ? DEFAULT_QUEUE_POLL_MS : undefined);
    if (pollMs) stopPolling = clock.setInterval(() => pump(), pollMs);
    pump();
  }

  /** Stops starting jobs; waits for the passes under way. Call releaseQueue() once the runner has stopped too. */
  async function stop(): Promise<void> {
    stopped = true;
    cancelRetry?.();
    cancelRetry = undefined;
    retryAt = Infinity;
    stopPolling?.();
    stopPolling = undefined;
    await idle();
    await takingQueue;
  }

  async function releaseQueue(): Promise<void> {
    if (holdingQueue) await lease?.release().catch((err: unknown) => log.warn({ err }, 'releasing the queue lease failed; it expires by itself'));
    holdingQueue = false;
  }

  /** Waits until no dispatch pass is running (for tests and orderly shutdown). */
  async function idle(): Promise<void> {
    while (pumping || inFlight.size > 0) {
      if (pumping) await pumping;
      await Promise.all([...inFlight]);
    }
  }

  return { pump, retryOrFail, holdsQueue: () => holdingQueue, start, stop, releaseQueue, idle };
}
