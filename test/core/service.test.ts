import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';

class RecordingChat implements ChatSurface {
  readonly platform = 'test' as const;
  readonly views: StatusView[] = [];
  readonly videos: { job: Job; bytes: Uint8Array }[] = [];
  failPost = false;
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
});
