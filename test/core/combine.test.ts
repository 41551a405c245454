// Combine through the one intake door (bot/core/combine.ts): delivered clips joined in order by a job that runs no
// model, their videos copied into its input; clips that differ, too few or too many are refused in one sentence.
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView } from '../../bot/core/ports.js';
import { statusActions } from '../../bot/core/status.js';
import { UserFacingError } from '../../bot/core/errors.js';
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
const here = { platform: 'test' as const, channelId: 'C1' };
const decode = (bytes: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;

describe('Combine', () => {
  let h: Harness;
  let chat: Chat;
  /** Models this machine "cannot run" (checkModel refuses them), switched on by a test. */
  const refused = new Set<string>();
  afterEach(async () => {
    refused.clear();
    await h?.close();
  });

  async function setup() {
    chat = new Chat();
    h = await createHarness([chat], {
      limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxConcurrentJobs: 5 },
      access: { maxJobsPerUser: 20 },
      checkModel: (model) => {
        if (refused.has(model)) throw new UserFacingError('MODEL_NOT_AVAILABLE', `${model} needs a GPU.`);
      },
    });
  }

  async function deliver(job: Job, bytes: Uint8Array): Promise<Job> {
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting', 5000, `${job.id} starting`);
    h.runner.video = bytes;
    await h.runner.complete(job.id, { output: { frames: job.params.frames + 8 } });
    return (await h.store.get(job.id))!;
  }

  async function clip(prompt: string, bytes: Uint8Array, model?: string): Promise<Job> {
    const { job } = await h.service.submit({ requester: alice, conversation: here, request: { prompt, ...(model ? { model } : {}) } });
    return deliver(job, bytes);
  }

  it('joins delivered clips in the order given, copying each video into the job\'s input, with no model to run', async () => {
    await setup();
    const a = await clip('one', new Uint8Array([1]));
    const b = await clip('two', new Uint8Array([2, 2]));
    refused.add('tiny-random'); // no GPU model could run here now: joining needs none
    const { job } = await h.service.submit({ requester: alice, conversation: here, combine: { jobIds: [b.id, a.id, b.id] } });
    expect(job.source).toEqual({ kind: 'combine', clipIds: [b.id, a.id, b.id] });
    expect(job.params.clips).toEqual(['clip-0.mp4', 'clip-1.mp4', 'clip-2.mp4']);
    // The clips' own frame counts (an extension holds more than it generated): 17 each.
    expect(job.params.frames).toBe(51);
    expect([...((await h.objects.getInput(job.id, 'clip-0.mp4')) ?? [])]).toEqual([2, 2]);
    expect([...((await h.objects.getInput(job.id, 'clip-1.mp4')) ?? [])]).toEqual([1]);
    expect([...((await h.objects.getInput(job.id, 'clip-2.mp4')) ?? [])]).toEqual([2, 2]);
    await eventually(() => h.runner.submitted.some((j) => j.id === job.id), 5000, 'the combine submitted');
    expect(decode(await h.objects.getInput(job.id, 'job.json'))).toEqual({ id: job.id, mode: 'combine', clips: ['clip-0.mp4', 'clip-1.mp4', 'clip-2.mp4'] });
    const done = await deliver(job, new Uint8Array([7]));
    expect(done.state).toBe('delivered');
    await eventually(() => chat.views.get(job.id)?.state === 'delivered');
    // A joined video has no prompt or model of its own to regenerate, edit or extend.
    expect(statusActions(chat.views.get(job.id)!)).toEqual(['details']);
  });

  it('refuses clips of another size or frame rate in one sentence naming the clip, before anything is announced', async () => {
    await setup();
    const small = await clip('small', new Uint8Array([1]));
    const large = await clip('large', new Uint8Array([2]), 'cogvideox-5b');
    const announced = chat.announced.length;
    await expect(h.service.submit({ requester: alice, conversation: here, combine: { jobIds: [small.id, large.id] } })).rejects.toMatchObject({
      code: 'CLIPS_DIFFER',
      message: `Job ${large.id} is 720×480 at 8 fps but job ${small.id} is 96×64 at 8 fps; only clips of the same size and frame rate can be joined.`,
    });
    expect(chat.announced).toHaveLength(announced);
  });

  it('takes 2 to 10 clips, each a delivered video', async () => {
    await setup();
    const a = await clip('a', new Uint8Array([1]));
    const tooFew = 'Combine joins 2 to 10 clips, given as job ids in order (e.g. /combine j1 j2); got 1.';
    await expect(h.service.submit({ requester: alice, conversation: here, combine: { jobIds: [a.id] } })).rejects.toThrow(tooFew);
    await expect(h.service.submit({ requester: alice, conversation: here, combine: { jobIds: Array(11).fill(a.id) } })).rejects.toThrow('got 11.');
    const { job: live } = await h.service.submit({ requester: alice, conversation: here, request: { prompt: 'not yet' } });
    await expect(h.service.submit({ requester: alice, conversation: here, combine: { jobIds: [a.id, live.id] } })).rejects.toThrow(
      new RegExp(`^Job ${live.id} has no video to combine \\(it is still \\w+\\); combine it once it is done\\.$`),
    );
  });

  it('Retry of a failed combine joins the same clips again', async () => {
    await setup();
    const a = await clip('a', new Uint8Array([1]));
    const b = await clip('b', new Uint8Array([2]));
    const { job } = await h.service.submit({ requester: alice, conversation: here, combine: { jobIds: [a.id, b.id] } });
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.fail(job.id, 'CLIPS_DIFFER', 'Clip 2 is 96x64 at 8 fps (hevc, yuv420p) but clip 1 is 96x64 at 8 fps (h264, yuv420p).');
    await eventually(() => chat.views.get(job.id)?.state === 'failed');
    expect(statusActions(chat.views.get(job.id)!)).toEqual(['details']); // CLIPS_DIFFER: not retryable
    const { job: again } = await h.service.submit({ requester: alice, conversation: here, redo: { jobId: job.id } });
    expect(again.source).toEqual({ kind: 'combine', clipIds: [a.id, b.id] });
    expect(again.params.clips).toEqual(['clip-0.mp4', 'clip-1.mp4']);
  });
});
