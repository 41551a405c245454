import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';

class RecordingChat implements ChatSurface {
  readonly platform = 'test' as const;
  readonly views: StatusView[] = [];
  readonly videos: { job: Job; bytes: Uint8Array }[] = [];
  failPost = false;
  async announce(job: Job) {
    return job.conversation;
  }
  async retract(): Promise<void> {}
  async showStatus(_job: Job, view: StatusView): Promise<void> {
    this.views.push(view);
  }
  async postVideo(job: Job, video: VideoFile): Promise<void> {
    if (this.failPost) throw new Error('chat down');
    this.videos.push({ job, bytes: await video.read() });
  }
}

const alice = { platform: 'test' as const, userId: 'alice' };
const conversation = { platform: 'test' as const, channelId: 'C1' };

describe('JobService', () => {
  let h: Harness;
  let chat: RecordingChat;
  afterEach(async () => h?.close());

  async function setup(opts: Parameters<typeof createHarness>[1] = {}) {
    chat = new RecordingChat();
    h = await createHarness([chat], opts);
  }

  it('runs a job from queued to delivered and posts the video once', async () => {
    await setup();
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', seed: 7 } });
    expect(job.state).toBe('queued');
    await eventually(() => h.runner.submitted.length === 1, 2000, 'submit');
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.progress(job.id, 1, 4);
    expect((await h.store.get(job.id))?.state).toBe('running');
    await h.runner.progress(job.id, 2, 4);
    expect((await h.store.get(job.id))?.progress?.step).toBe(2);
    await h.runner.progress(job.id, 0, 0, 'encoding');
    expect((await h.store.get(job.id))?.state).toBe('encoding');
    await h.runner.complete(job.id);
    await h.runner.complete(job.id); // duplicate event
    const done = await h.store.get(job.id);
    expect(done?.state).toBe('delivered');
    expect(chat.videos).toHaveLength(1);
    expect(chat.videos[0]!.job.params.seed).toBe(7);
    await eventually(() => chat.views.some((v) => v.state === 'delivered'));
    const jobJson = JSON.parse(new TextDecoder().decode(await h.objects.getInput(job.id, 'job.json')));
    expect(jobJson).toMatchObject({ id: job.id, mode: 't2v', model: 'tiny-random', prompt: 'a bee', seed: 7, frames: 9 });
  });

  it('dedupes a repeated request key', async () => {
    await setup();
    const a = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' }, requestKey: 'k1' });
    const b = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' }, requestKey: 'k1' });
    expect(b.created).toBe(false);
    expect(b.job.id).toBe(a.job.id);
  });

  it('refuses cancel by someone else and allows the requester', async () => {
    await setup();
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } });
    await expect(h.service.cancel(job.id, { platform: 'test', userId: 'bob' })).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    const cancelled = await h.service.cancel(job.id, alice);
    expect(cancelled.state).toBe('cancelled');
    expect(h.runner.cancelled).toEqual([job.id]);
  });

  it('retries a capacity failure and then fails with the readable message', async () => {
    await setup({ limits: { maxAttempts: 2, retryBackoffMs: 0, statusIntervalMs: 0 } });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } });
    await eventually(() => h.runner.submitted.length === 1);
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.fail(job.id, 'CAPACITY', 'No GPU', true);
    await eventually(() => h.runner.submitted.length === 2, 2000, 'resubmit');
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.fail(job.id, 'CAPACITY', 'No GPU', true);
    const failed = await h.store.get(job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure?.message).toBe('No GPU');
  });

  it('enforces the per-user concurrent limit with a clear message', async () => {
    await setup({ access: { maxJobsPerUser: 1 } });
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } });
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'y' } })).rejects.toThrow(/limit is 1 at a time/);
  });

  it('marks a job interrupted during upload as failed instead of posting twice', async () => {
    await setup();
    chat.failPost = true;
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } });
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.complete(job.id);
    const failed = await h.store.get(job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.failure?.code).toBe('DELIVERY_FAILED');
  });

  describe('after a restart', () => {
    async function leftBehind(state: 'starting' | 'running' | 'uploading' | 'enhancing', attempts = 1) {
      await setup();
      await h.service.stop();
      const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } });
      const moved = await h.store.transition(job.id, ['queued'], state === 'enhancing' ? 'enhancing' : 'submitting', { attempts });
      if (state !== 'enhancing') await h.store.transition(job.id, ['submitting'], 'starting');
      if (state === 'running' || state === 'uploading') await h.store.transition(job.id, ['starting'], 'running');
      if (state === 'uploading') await h.store.transition(job.id, ['running'], 'uploading');
      expect(moved).toBeDefined();
      return job.id;
    }

    it('delivers a job the runner finished while the bot was down', async () => {
      const id = await leftBehind('running');
      await h.runner.complete(id).catch(() => undefined); // writes the outputs; no handler is listening
      h.runner.statuses.set(id, { status: 'completed', metadata: { timings_s: { total: 3 } } });
      await h.service.start();
      expect((await h.store.get(id))?.state).toBe('delivered');
      expect(chat.videos).toHaveLength(1);
    });

    it('leaves a still-running job alone for its events to finish', async () => {
      const id = await leftBehind('running');
      h.runner.statuses.set(id, { status: 'running' });
      await h.service.start();
      expect((await h.store.get(id))?.state).toBe('running');
    });

    it('retries a job the runner lost', async () => {
      const id = await leftBehind('starting', 1);
      await h.service.start();
      await eventually(() => h.runner.submitted.some((j) => j.id === id), 2000, 'resubmit');
      await eventually(async () => (await h.store.get(id))?.attempts === 2, 2000, 'second attempt');
    });

    it('fails a lost job with a readable reason once its attempts are used up', async () => {
      const id = await leftBehind('starting', 3);
      await h.service.start();
      const job = await h.store.get(id);
      expect(job?.state).toBe('failed');
      expect(job?.failure).toMatchObject({ code: 'INTERRUPTED', message: expect.stringMatching(/restarted while this job ran/) });
      expect(h.runner.submitted.some((j) => j.id === id)).toBe(false);
    });

    it('leaves a recent upload to the replica doing it (rolling deploy)', async () => {
      const id = await leftBehind('uploading');
      await h.service.start();
      expect((await h.store.get(id))?.state).toBe('uploading');
    });

    it('never posts again a video whose upload was cut off', async () => {
      const id = await leftBehind('uploading');
      await h.clock.advance(11 * 60 * 1000);
      await h.service.start();
      const job = await h.store.get(id);
      expect(job?.state).toBe('failed');
      expect(job?.failure?.code).toBe('DELIVERY_INTERRUPTED');
      expect(chat.videos).toHaveLength(0);
    });

    it('enhances again a job cut off while enhancing', async () => {
      const id = await leftBehind('enhancing');
      await h.service.start();
      await eventually(() => h.runner.submitted.some((j) => j.id === id), 2000, 'submitted after re-queue');
    });
  });

  it('falls back to the original prompt when enhancement fails', async () => {
    await setup({ enhancer: { name: 'broken', enhance: async () => { throw new Error('down'); } } });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', enhance: true } });
    await eventually(() => h.runner.submitted.length === 1);
    expect(h.runner.submitted[0]!.params.prompt).toBe('a bee');
    expect((await h.store.get(job.id))?.state).not.toBe('failed');
  });

  it('uses the enhanced prompt for --enhance and keeps the original', async () => {
    await setup({ enhancer: { name: 'fake', enhance: async (p) => `Cinematic ${p}` } });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', enhance: true } });
    await eventually(() => h.runner.submitted.length === 1);
    const stored = await h.store.get(job.id);
    expect(stored?.params.prompt).toBe('Cinematic a bee');
    expect(stored?.originalPrompt).toBe('a bee');
  });

  it('ignores a late event of an earlier attempt', async () => {
    await setup();
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } });
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    const current = (await h.store.get(job.id))!.runnerRef!;
    await h.runner.emit({ jobId: job.id, kind: 'failed', failure: { code: 'CAPACITY', message: 'old', retryable: true }, ref: 'attempt-0' });
    expect((await h.store.get(job.id))?.state).toBe('starting');
    await h.runner.emit({ jobId: job.id, kind: 'failed', failure: { code: 'INVALID_JOB', message: 'current', retryable: false }, ref: current });
    expect((await h.store.get(job.id))?.failure?.message).toBe('current');
  });
});
