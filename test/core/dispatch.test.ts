// Dispatch: failed submits (refused or unreachable), a cancel while the runner starts a job, reconciliation of
// jobs whose events were lost, and the time limit kept from the store. In-memory fakes, a manual clock.
import { afterEach, describe, expect, it } from 'vitest';
import { RunnerSubmitError, UserFacingError } from '../../bot/core/errors.js';
import type { Conversation, Job } from '../../bot/core/job.js';
import type { ChatSurface, Logger, StatusView, VideoFile } from '../../bot/core/ports.js';
import type { JobScope } from '../../bot/core/scope.js';
import type { FsObjectStore } from '../../bot/local/files.js';
import { ScriptedRunner, createHarness, eventually, type Harness } from '../support/harness.js';

class Chat implements ChatSurface {
  readonly platform = 'test' as const;
  readonly views: StatusView[] = [];
  readonly videos: Job[] = [];
  async announce(job: Job): Promise<Conversation> {
    return { ...job.conversation, statusMessageId: `m-${job.id}` };
  }
  async retract(): Promise<void> {}
  async showStatus(_job: Job, view: StatusView): Promise<void> {
    this.views.push(view);
  }
  async postVideo(job: Job, video: VideoFile): Promise<void> {
    await video.read();
    this.videos.push(job);
  }
}

/** A ScriptedRunner whose submit can be held open or made to throw, and which keeps every job it was asked to cancel. */
class DispatchRunner extends ScriptedRunner {
  readonly cancelledJobs: Job[] = [];
  submitError: ((job: Job) => Error) | undefined;
  private held: { release: () => void; wait: Promise<void> } | undefined;
  maxRuntimeMs: number | undefined;

  /** The next submit waits until the returned function is called. */
  holdSubmit(): () => void {
    let release!: () => void;
    const wait = new Promise<void>((r) => (release = r));
    this.held = { release, wait };
    return release;
  }
  override async submit(job: Job): Promise<{ ref: string }> {
    this.submitted.push(job);
    const held = this.held;
    if (held) {
      this.held = undefined;
      await held.wait;
    }
    if (this.submitError) throw this.submitError(job);
    return { ref: `scripted:${job.id}:${job.attempts + 1}` };
  }
  override async cancel(job: Job): Promise<void> {
    this.cancelledJobs.push(job);
    await super.cancel(job);
  }
}

interface LogLine {
  readonly level: string;
  readonly fields: Record<string, unknown>;
  readonly msg: string | undefined;
}

function recordingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const at = (level: string) => (obj: object | string, msg?: string) =>
    void lines.push(typeof obj === 'string' ? { level, fields: bindings, msg: obj } : { level, fields: { ...bindings, ...obj }, msg });
  return { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug'), child: (b) => recordingLogger(lines, { ...bindings, ...b }) };
}

const conversation = { platform: 'test' as const, channelId: 'C1' };
const user = (userId: string) => ({ platform: 'test' as const, userId });

describe('dispatch', () => {
  let h: Harness;
  let chat: Chat;
  let runner: DispatchRunner;
  let logs: LogLine[];
  afterEach(async () => h?.close());

  async function setup(limits: Record<string, number> = {}, scope?: JobScope) {
    chat = new Chat();
    logs = [];
    h = await createHarness([chat], {
      makeRunner: (objects: FsObjectStore) => (runner = new DispatchRunner(objects)),
      logger: recordingLogger(logs),
      limits: { statusIntervalMs: 0, retryBackoffMs: 0, reconcileIntervalMs: 0, ...limits },
      ...(scope ? { scope } : {}),
    });
  }

  async function submit(userId = 'alice', prompt = 'a bee'): Promise<Job> {
    return (await h.service.submit({ requester: user(userId), conversation, request: { prompt } })).job;
  }

  async function stateOf(id: string) {
    return (await h.store.get(id))?.state;
  }

  const finalView = (jobId: string) => chat.views.filter((v) => v.jobId === jobId && v.final).at(-1);

  describe('a submit that fails', () => {
    it('fails at once, with the runner\'s sentence and an operator alert, when the backend refuses the job', async () => {
      await setup({ maxAttempts: 3 });
      runner.submitError = () =>
        new RunnerSubmitError(
          'NO_GPU_QUOTA',
          'This workspace has no SageMaker quota for ml.g6e.2xlarge processing jobs; an admin must request it.',
          true,
          'ResourceLimitExceeded (HTTP 400): The account-level service limit is 0 Instances',
        );
      const job = await submit();
      const failed = await eventually(async () => {
        const j = await h.store.get(job.id);
        return j?.state === 'failed' ? j : undefined;
      }, 2000, 'failure');
      await h.service.idle();
      expect(runner.submitted).toHaveLength(1);
      expect(failed.failure).toEqual({
        code: 'NO_GPU_QUOTA',
        message: 'This workspace has no SageMaker quota for ml.g6e.2xlarge processing jobs; an admin must request it.',
        retryable: false,
      });
      await eventually(() => finalView(job.id), 2000, 'final status');
      expect(finalView(job.id)?.headline).toBe('Failed: This workspace has no SageMaker quota for ml.g6e.2xlarge processing jobs; an admin must request it.');
      const alert = logs.find((l) => l.fields.alert === 'SUBMIT_PERMANENT');
      expect(alert).toMatchObject({ level: 'error', fields: { jobId: job.id, code: 'NO_GPU_QUOTA', detail: expect.stringContaining('ResourceLimitExceeded') } });
    });

    it('counts an unreachable backend as an attempt and ends, after maxAttempts, with a sentence to read', async () => {
      await setup({ maxAttempts: 3 });
      runner.submitError = () => new RunnerSubmitError('RUNNER_UNAVAILABLE', 'The GPU backend could not be reached.', false, 'ThrottlingException (HTTP 400): Rate exceeded');
      const job = await submit();
      const failed = await eventually(async () => {
        const j = await h.store.get(job.id);
        return j?.state === 'failed' ? j : undefined;
      }, 5000, 'failure after the last attempt');
      await h.service.idle();
      expect(runner.submitted.map((j) => j.attempts)).toEqual([0, 1, 2]);
      expect(failed.attempts).toBe(2);
      expect(failed.failure).toEqual({
        code: 'RUNNER_UNAVAILABLE',
        message: 'The GPU backend could not be reached in 3 tries, so the job could not start. Try again in a few minutes.',
        retryable: true,
      });
      // Each failed request may still have started the job: it is stopped before the next attempt.
      expect(runner.cancelledJobs.map((j) => [j.state, j.attempts])).toEqual([['submitting', 0], ['submitting', 1], ['submitting', 2]]);
      expect(logs.some((l) => l.fields.alert === 'SUBMIT_PERMANENT')).toBe(false);
    });

    it('counts any other submit error as an attempt too (it used to be retried without end)', async () => {
      await setup({ maxAttempts: 2 });
      runner.submitError = () => new Error('socket hang up');
      const job = await submit();
      await eventually(async () => (await stateOf(job.id)) === 'failed', 5000, 'failure');
      await h.service.idle();
      expect(runner.submitted).toHaveLength(2);
    });

    it('fails at once when the runner refuses with its own sentence (a UserFacingError whose code no retry helps)', async () => {
      await setup({ maxAttempts: 3 });
      runner.submitError = () => new UserFacingError('MODEL_NOT_AVAILABLE', 'The model weights are not installed here.');
      const job = await submit();
      await eventually(async () => (await stateOf(job.id)) === 'failed', 5000, 'failure');
      await h.service.idle();
      expect(runner.submitted).toHaveLength(1);
      expect((await h.store.get(job.id))?.failure).toMatchObject({ code: 'MODEL_NOT_AVAILABLE', message: 'The model weights are not installed here.' });
    });

    it('backs off exponentially between attempts, up to maxRetryBackoffMs', async () => {
      await setup({ maxAttempts: 6, retryBackoffMs: 60_000, maxRetryBackoffMs: 90_000 });
      runner.submitError = () => new RunnerSubmitError('RUNNER_UNAVAILABLE', 'unreachable', false, 'HTTP 503');
      const job = await submit();
      await eventually(() => runner.submitted.length === 1, 2000, 'first attempt');
      const tries = async (advanceMs: number): Promise<number> => {
        await h.service.idle();
        await h.clock.advance(advanceMs); // the back-off's timer starts the next attempt: nothing else wakes the queue
        await h.service.idle();
        return runner.submitted.filter((j) => j.id === job.id).length;
      };
      expect(await tries(59_999)).toBe(1); // 60 s after the first failure
      expect(await tries(1)).toBe(2);
      expect(await tries(90_000)).toBe(3); // 120 s, capped at 90 s
      expect(await tries(90_000)).toBe(4); // 240 s, capped
    });
  });

  describe('timers', () => {
    it('keeps one back-off timer however often the queue runs meanwhile, and stop() leaves no timer set', async () => {
      await setup({ maxAttempts: 3, retryBackoffMs: 60_000, reconcileIntervalMs: 60_000 });
      runner.submitError = () => new RunnerSubmitError('RUNNER_UNAVAILABLE', 'unreachable', false, 'HTTP 503');
      const job = await submit();
      await eventually(async () => (await stateOf(job.id)) === 'queued' && runner.submitted.length === 1, 2000, 'the first attempt failed');
      runner.submitError = undefined;
      for (let i = 0; i < 3; i++) {
        // Other people's requests make the queue run while the job waits out its back-off.
        await h.service.cancel((await submit(`other-${i}`)).id, user(`other-${i}`));
        await h.service.idle();
      }
      expect(h.clock.pending).toBe(3); // the upload sweep, the reconcile pass and one back-off
      await h.clock.advance(60_000);
      await h.service.idle();
      expect(runner.submitted.filter((j) => j.id === job.id)).toHaveLength(2);
      await h.service.stop();
      expect(h.clock.pending).toBe(0);
    });

    it('looks at a shared queue every queuePollMs (here 30 s), and starts its jobs once it holds the queue', async () => {
      let free = false; // another process holds the queue until the test frees it
      await setup({}, { lease: { hold: async () => free, release: async () => {} }, queuePollMs: 30_000 });
      const job = await submit();
      await h.service.idle();
      expect(await stateOf(job.id)).toBe('queued');
      free = true;
      await h.clock.advance(29_999);
      await h.service.idle();
      expect(runner.submitted).toHaveLength(0);
      await h.clock.advance(1);
      await eventually(async () => (await stateOf(job.id)) === 'starting', 2000, 'started by the poll');
    });
  });

  describe('a cancel while the runner starts the job', () => {
    it('stops the runner job that the submit started, frees the slot and posts nothing', async () => {
      await setup({ maxConcurrentJobs: 1 });
      const release = runner.holdSubmit();
      const job = await submit('alice');
      await eventually(() => runner.submitted.length === 1, 2000, 'submit under way');
      expect(await stateOf(job.id)).toBe('submitting');
      await h.service.cancel(job.id, user('alice'));
      const next = await submit('bob');
      release();
      await h.service.idle();
      expect(await stateOf(job.id)).toBe('cancelled');
      // Once at the cancel (nothing to stop yet), once with the runner ref the submit answered.
      expect(runner.cancelledJobs.map((j) => j.runnerRef)).toEqual([undefined, `scripted:${job.id}:1`]);
      await eventually(async () => (await stateOf(next.id)) === 'starting', 2000, 'the next job starts');
      await runner.complete(next.id);
      expect(chat.videos.map((j) => j.id)).toEqual([next.id]);
      expect(finalView(job.id)?.headline).toBe('Cancelled');
    });

    it('starts nothing for a job cancelled while queued', async () => {
      await setup();
      const job = await submit('alice');
      await h.service.cancel(job.id, user('alice'));
      await h.service.idle();
      expect(runner.submitted).toHaveLength(0);
      expect(await stateOf(job.id)).toBe('cancelled');
    });
  });

  describe('reconciliation', () => {
    async function running(): Promise<Job> {
      const job = await submit();
      await eventually(async () => (await stateOf(job.id)) === 'starting', 2000, 'started');
      await runner.progress(job.id, 1, 4);
      return (await h.store.get(job.id))!;
    }

    it('delivers a job whose completed event was lost, once it has been quiet for quietAfterMs', async () => {
      await setup({ quietAfterMs: 120_000 });
      const job = await running();
      await writeOutputs(h, job.id); // the job finished; its Completed event never came
      runner.statuses.set(job.id, { status: 'completed', metadata: { seed: 1 } });
      await h.clock.advance(119_000);
      await h.service.reconcile();
      expect(await stateOf(job.id)).toBe('running'); // not quiet long enough: not even asked
      await h.clock.advance(2000);
      await h.service.reconcile();
      expect(await stateOf(job.id)).toBe('delivered');
      expect(chat.videos.map((j) => j.id)).toEqual([job.id]);
      await h.service.reconcile();
      expect(chat.videos).toHaveLength(1);
    });

    it('fails a quiet job the runner says failed, and retries one the runner no longer knows', async () => {
      await setup({ quietAfterMs: 60_000, maxAttempts: 2 });
      const a = await running();
      runner.statuses.set(a.id, { status: 'failed', failure: { code: 'GPU_OUT_OF_MEMORY', message: 'The GPU ran out of memory.', retryable: false } });
      await h.clock.advance(61_000);
      await h.service.reconcile();
      expect((await h.store.get(a.id))?.failure).toEqual({ code: 'GPU_OUT_OF_MEMORY', message: 'The GPU ran out of memory.', retryable: false });

      const b = await submit('bob');
      await eventually(async () => (await stateOf(b.id)) === 'starting', 2000, 'b started');
      await h.clock.advance(61_000);
      await h.service.reconcile(); // the runner says unknown: the job is lost
      await eventually(() => runner.submitted.filter((j) => j.id === b.id).length === 2, 2000, 'b submitted again');
      expect((await h.store.get(b.id))?.failure?.code).toBe('INTERRUPTED');
    });

    it('leaves a quiet job the runner says is running alone', async () => {
      await setup({ quietAfterMs: 60_000 });
      const job = await running();
      runner.statuses.set(job.id, { status: 'running' });
      await h.clock.advance(10 * 60_000);
      await h.service.reconcile();
      expect(await stateOf(job.id)).toBe('running');
    });

    it('stops and fails a job that outlived the runner\'s time limit, from the store alone, and frees the slot', async () => {
      await setup({ quietAfterMs: 60 * 60_000, timeoutGraceMs: 5 * 60_000, maxConcurrentJobs: 1 });
      runner.maxRuntimeMs = 30 * 60_000;
      const job = await running();
      const next = await submit('bob');
      runner.statuses.set(job.id, { status: 'running' });
      for (let i = 0; i < 34; i++) {
        await h.clock.advance(60_000);
        await runner.progress(job.id, 2 + (i % 2), 4); // events keep coming: not quiet, still over time
      }
      await h.service.reconcile();
      expect(await stateOf(job.id)).toBe('running');
      await h.clock.advance(61_000);
      await h.service.reconcile();
      const failed = await h.store.get(job.id);
      expect(failed?.state).toBe('failed');
      expect(failed?.failure).toEqual({ code: 'TIMEOUT', message: 'The job ran longer than its 30-minute time limit and was stopped.', retryable: false });
      expect(runner.cancelledJobs.map((j) => j.id)).toEqual([job.id]);
      await eventually(async () => (await stateOf(next.id)) === 'starting', 2000, 'the next job starts');
    });

    it('runs by itself every reconcileIntervalMs', async () => {
      await setup({ quietAfterMs: 60_000, reconcileIntervalMs: 45_000 });
      const job = await running();
      runner.statuses.set(job.id, { status: 'failed', failure: { code: 'INVALID_JOB', message: 'Bad size.', retryable: false } });
      await h.clock.advance(45_000); // a pass, but the job is not quiet yet
      expect(await stateOf(job.id)).toBe('running');
      await h.clock.advance(45_000); // the next pass, 90 s in
      await eventually(async () => (await stateOf(job.id)) === 'failed', 2000, 'reconciled by the timer');
    });
  });
});

async function writeOutputs(h: Harness, jobId: string): Promise<void> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(h.objects.outputDir(jobId), { recursive: true });
  await writeFile(join(h.objects.outputDir(jobId), 'video.mp4'), new Uint8Array([0, 0, 0, 24, 0x66, 0x74, 0x79, 0x70]));
}
