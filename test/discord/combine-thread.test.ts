// /combine with no ids in Discord, against the loopback Discord: the videos asked for in this channel — a thread is a
// channel of its own — oldest first; fewer than two is one ephemeral sentence.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { prompt, replyText, startWorld, startedJob, type DiscordWorld } from './setup.js';

describe('Discord: /combine with no ids', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  async function deliveredVideo(text: string, channelId?: string) {
    const id = await w.fake.slashCommand('video', [prompt(text)], channelId ? { channelId } : {});
    const { jobId } = await startedJob(w, id);
    await eventually(async () => (await w.h.store.get(jobId))?.state === 'starting', 5000, 'starting');
    await w.h.runner.complete(jobId);
    await eventually(async () => (await w.h.store.get(jobId))?.state === 'delivered', 5000, 'delivered');
    return jobId;
  }

  it("joins the thread's videos oldest first; the parent channel's are not part of it", async () => {
    w = await startWorld();
    const thread = '900000000000000777';
    w.fake.threads.set(thread, { id: thread, parent_id: w.fake.channelId, name: 'our story' });
    const inChannel = await deliveredVideo('a prologue');
    const first = await deliveredVideo('chapter one', thread);
    const second = await deliveredVideo('chapter two', thread);

    const id = await w.fake.slashCommand('combine', [], { channelId: thread });
    const { jobId } = await startedJob(w, id);
    expect(await w.h.service.get(jobId)).toMatchObject({ source: { kind: 'combine', clipIds: [first, second] }, conversation: { channelId: thread } });
    expect(inChannel).not.toBe(first);

    const alone = await w.fake.slashCommand('combine', []);
    expect(await replyText(w, alone)).toBe('Combine needs at least 2 finished videos here and found 1; give job ids in order instead (e.g. /combine j1 j2).');
    expect(w.fake.originalOf(alone)!.flags & 64).toBe(64);
  });
});
