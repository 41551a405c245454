// Extend through the one intake door (bot/core/extend.ts, lineage.ts): the continuation of a delivered clip with its
// family's image-to-video model, the clip copied into the new job's input, and the chain capped.
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView } from '../../bot/core/ports.js';
import { statusActions, summary } from '../../bot/core/status.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';

class Chat implements ChatSurface {
  readonly platform = 'test' as const;
  readonly announced: Job[] = [];
  readonly views = new Map<string, StatusView>();
  async announce(job: Job) {
    this.announced.push(job);
    return job.conversation;
  }
  async retract(): Promise<void> {}
  async showStatus(job: Job, view: StatusView): Promise<void> {
    this.views.set(job.id, view);
  }
  async postVideo(): Promise<void> {}
}

const alice = { platform: 'test' as const, userId: 'alice' };
const bob = { platform: 'test' as const, userId: 'bob' };
const here = { platform: 'test' as const, channelId: 'C1' };
const elsewhere = { platform: 'test' as const, channelId: 'C2' };
const decode = (bytes: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;

describe('Extend', () => {
  let h: Harness;
  let chat: Chat;
  afterEach(async () => h?.close());

  async function setup(opts: Parameters<typeof createHarness>[1] = {}) {
    chat = new Chat();
    h = await createHarness([chat], { limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxConcurrentJobs: 5 }, access: { maxJobsPerUser: 20 }, ...opts });
  }

  /** Runs a submitted job to delivered with `bytes` as its video. */
  async function deliver(job: Job, bytes = new Uint8Array([1, 2, 3, job.id.length])): Promise<Job> {
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting', 5000, `${job.id} starting`);
    h.runner.video = bytes;
    await h.runner.complete(job.id);
    return (await h.store.get(job.id))!;
  }

  async function deliveredClip(request: { prompt: string; model?: string; seed?: number }, by = alice, conversation = here): Promise<Job> {
    const { job } = await h.service.submit({ requester: by, conversation, request });
    return deliver(job);
  }

  it('continues a delivered clip with its image-to-video model, its prompt and a copy of its video', async () => {
    await setup();
    const clipBytes = new Uint8Array([9, 8, 7, 6, 5]);
    const { job: first } = await h.service.submit({ requester: alice, conversation: here, request: { prompt: 'a fox in the snow', seed: 7 } });
    await deliver(first, clipBytes);
    const { job, created } = await h.service.submit({ requester: alice, conversation: here, extend: { jobId: first.id } });
    expect(created).toBe(true);
    expect(job.source).toEqual({ kind: 'extend', parentId: first.id, extensions: 1 });
    expect(job.params).toMatchObject({ mode: 'i2v', model: 'tiny-random', prompt: 'a fox in the snow', frames: 9, height: 64, width: 96, parentVideo: 'parent.mp4' });
    expect(job.params.image).toBeUndefined();
    expect(summary(job)).toBe(`tiny-random (test model — random noise) · seed ${job.params.seed} · job ${first.id} + 8 frames @ 8 fps · 96×64 · 4 steps · guidance 6`);
    expect([...((await h.objects.getInput(job.id, 'parent.mp4')) ?? [])]).toEqual([...clipBytes]);
    await eventually(() => h.runner.submitted.some((j) => j.id === job.id), 5000, 'the extension submitted');
    expect(decode(await h.objects.getInput(job.id, 'job.json'))).toMatchObject({ mode: 'i2v', parent_video: 'parent.mp4', prompt: 'a fox in the snow' });
    expect(decode(await h.objects.getInput(job.id, 'job.json'))).not.toHaveProperty('image');
  });

  it('uses the edited prompt, and the image-to-video preset of a text-to-video family', async () => {
    await setup();
    const clip = await deliveredClip({ prompt: 'a paper boat', model: 'cogvideox-5b' });
    const { job } = await h.service.submit({ requester: alice, conversation: here, extend: { jobId: clip.id, prompt: 'the boat sails under a bridge' } });
    expect(job.params).toMatchObject({ model: 'cogvideox-5b-i2v', mode: 'i2v', prompt: 'the boat sails under a bridge', frames: 49, height: 480, width: 720, fps: 8 });
  });

  it('refuses the extension past the chain limit in one sentence, before anything is announced', async () => {
    await setup({ limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxConcurrentJobs: 5, maxExtensions: 2 } });
    let clip = await deliveredClip({ prompt: 'waves' });
    for (let n = 1; n <= 2; n++) {
      const { job } = await h.service.submit({ requester: alice, conversation: here, extend: { jobId: clip.id } });
      expect(job.source).toMatchObject({ extensions: n });
      clip = await deliver(job);
    }
    const announced = chat.announced.length;
    await expect(h.service.submit({ requester: alice, conversation: here, extend: { jobId: clip.id } })).rejects.toMatchObject({
      code: 'CANNOT_EXTEND',
      message: `Job ${clip.id} is already extended 2 times, the most this bot allows (2); use Combine to join longer videos.`,
    });
    expect(chat.announced).toHaveLength(announced);
  });

  it('says why a job cannot be extended: not done, unknown, someone else\'s elsewhere, or a combined video', async () => {
    await setup();
    const { job: running } = await h.service.submit({ requester: alice, conversation: here, request: { prompt: 'still going' } });
    await expect(h.service.submit({ requester: alice, conversation: here, extend: { jobId: running.id } })).rejects.toMatchObject({
      code: 'INVALID_COMMAND',
      message: expect.stringMatching(new RegExp(`^Job ${running.id} has no video to extend \\(it is still (queued|submitting|starting)\\); extend it once it is done\\.$`)),
    });
    await expect(h.service.submit({ requester: alice, conversation: here, extend: { jobId: 'nope' } })).rejects.toMatchObject({
      code: 'JOB_NOT_FOUND',
      message: 'There is no video job nope that you can extend here.',
    });
    const bobs = await deliveredClip({ prompt: "bob's clip" }, bob, elsewhere);
    await expect(h.service.submit({ requester: alice, conversation: here, extend: { jobId: bobs.id } })).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
    // In the channel where it was posted, anyone there may continue it.
    const inBobsChannel = await h.service.submit({ requester: alice, conversation: elsewhere, extend: { jobId: bobs.id } });
    expect(inBobsChannel.created).toBe(true);

    const a = await deliveredClip({ prompt: 'a' });
    const b = await deliveredClip({ prompt: 'b' });
    const { job: joined } = await h.service.submit({ requester: alice, conversation: here, combine: { jobIds: [a.id, b.id] } });
    await deliver(joined);
    await expect(h.service.submit({ requester: alice, conversation: here, extend: { jobId: joined.id } })).rejects.toMatchObject({
      code: 'CANNOT_EXTEND',
      message: `Job ${joined.id} joins several clips; extend the last of them instead, then combine again.`,
    });
  });

  it('Retry of an extension continues the same clip with the same seed; Regenerate with a new one', async () => {
    await setup();
    const clip = await deliveredClip({ prompt: 'rain' });
    const { job: extension } = await h.service.submit({ requester: alice, conversation: here, extend: { jobId: clip.id, seed: 123 } });
    await eventually(async () => (await h.store.get(extension.id))?.state === 'starting');
    await h.runner.fail(extension.id, 'GPU_OUT_OF_MEMORY', 'out of memory', true);
    const { job: retried } = await h.service.submit({ requester: alice, conversation: here, redo: { jobId: extension.id } });
    expect(retried.source).toEqual({ kind: 'extend', parentId: clip.id, extensions: 1 });
    expect(retried.params).toMatchObject({ seed: 123, parentVideo: 'parent.mp4', mode: 'i2v' });
    expect(await h.objects.getInput(retried.id, 'parent.mp4')).toBeDefined();
    const { job: regenerated } = await h.service.submit({ requester: bob, conversation: here, redo: { jobId: extension.id, newSeed: true } });
    expect(regenerated.params.seed).not.toBe(123);
    expect(regenerated.source).toMatchObject({ parentId: clip.id });
  });

  it('offers Extend on a delivered video', async () => {
    await setup();
    const clip = await deliveredClip({ prompt: 'leaves' });
    await eventually(() => chat.views.get(clip.id)?.state === 'delivered');
    expect(statusActions(chat.views.get(clip.id)!)).toEqual(['regenerate', 'editPrompt', 'extend', 'details']);
  });
});
