// The one door for requests (bot/core/intake.ts, through JobService.submit): check once, hold the slot, and only
// then announce and create — refusals never reach the chat's public side.
import { afterEach, describe, expect, it } from 'vitest';
import type { Conversation, Job } from '../../bot/core/job.js';
import { LIVE_STATES } from '../../bot/core/job.js';
import type { ChatSurface, StatusView } from '../../bot/core/ports.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';

/** Records what would be public: announcements, retractions, status views. */
class PublicChat implements ChatSurface {
  readonly platform = 'test' as const;
  readonly announced: Job[] = [];
  readonly retracted: Conversation[] = [];
  failAnnounce = false;
  /** When set, announce waits for it (to line requests up); `waiting` counts the announcements held there. */
  gate: Promise<void> | undefined;
  waiting = 0;
  async announce(job: Job): Promise<Conversation> {
    if (this.gate) {
      this.waiting++;
      await this.gate;
    }
    if (this.failAnnounce) throw new Error('channel gone');
    this.announced.push(job);
    return { ...job.conversation, statusMessageId: `m-${job.id}` };
  }
  async retract(conversation: Conversation): Promise<void> {
    this.retracted.push(conversation);
  }
  async showStatus(_job: Job, _view: StatusView): Promise<void> {}
  async postVideo(): Promise<void> {}
}

const alice = { platform: 'test' as const, userId: 'alice' };
const bob = { platform: 'test' as const, userId: 'bob' };
const conversation = { platform: 'test' as const, channelId: 'C1' };

describe('intake (JobService.submit)', () => {
  let h: Harness;
  let chat: PublicChat;
  afterEach(async () => h?.close());

  async function setup(opts: Parameters<typeof createHarness>[1] = {}) {
    chat = new PublicChat();
    h = await createHarness([chat], opts);
  }

  const live = async (userId: string) => (await h.store.listByState(LIVE_STATES)).filter((j) => j.requester.userId === userId);

  it('creates the job under the status message it announced', async () => {
    await setup();
    const { job, created } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', seed: 7 } });
    expect(created).toBe(true);
    expect(chat.announced.map((j) => j.id)).toEqual([job.id]);
    expect(job.conversation).toEqual({ ...conversation, statusMessageId: `m-${job.id}` });
    expect(await h.store.get(job.id)).toMatchObject({ state: 'queued', conversation: job.conversation, params: { prompt: 'a bee', seed: 7 } });
  });

  it('lets 2 of 12 concurrent requests of one person through with a limit of 2, and announces only those', async () => {
    await setup({ access: { maxJobsPerUser: 2 } });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => h.service.submit({ requester: i % 4 === 3 ? bob : alice, conversation, request: { prompt: `p${i}` } })),
    );
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused.map((r) => r.reason.code)).toEqual(Array(8).fill('RATE_LIMITED'));
    expect(await live('alice')).toHaveLength(2);
    expect(await live('bob')).toHaveLength(2);
    expect(chat.announced).toHaveLength(4);
    expect(chat.retracted).toHaveLength(0);
  });

  it('counts jobs in progress against the daily quota, so a burst cannot pass it', async () => {
    await setup({ access: { maxJobsPerUser: 10, dailyQuota: 3 } });
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => h.service.submit({ requester: alice, conversation, request: { prompt: `p${i}` } })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(Array(3).fill('QUOTA_EXCEEDED'));
    expect(chat.announced).toHaveLength(3);
  });

  it('refuses bad input, access and limits before announcing anything', async () => {
    await setup({ access: { maxJobsPerUser: 1, allowedUsers: ['alice'] } });
    await expect(h.service.submit({ requester: bob, conversation, request: { prompt: 'x' } })).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'x', frames: 4 } })).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'one' } });
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'two' } })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(chat.announced.map((j) => j.params.prompt)).toEqual(['one']);
  });

  it('returns the job of a known request key without announcing again, and retracts a racing duplicate', async () => {
    await setup({ access: { maxJobsPerUser: 5 } });
    const first = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' }, requestKey: 'k1' });
    const again = await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' }, requestKey: 'k1' });
    expect(again).toEqual({ job: first.job, created: false });
    expect(chat.announced).toHaveLength(1);

    // Two deliveries of one request at once: both get past the lookup, one announcement is withdrawn again.
    let open!: () => void;
    chat.gate = new Promise((r) => (open = r));
    const racing = [1, 2].map(() => h.service.submit({ requester: alice, conversation, request: { prompt: 'y' }, requestKey: 'k2' }));
    await eventually(() => chat.waiting === 2, 2000, 'both requests past the lookup');
    open();
    const [a, b] = await Promise.all(racing);
    expect([a!.created, b!.created].sort()).toEqual([false, true]);
    expect(a!.job.id).toBe(b!.job.id);
    expect(chat.retracted).toHaveLength(1);
    expect(chat.retracted[0]!.statusMessageId).not.toBe(a!.job.conversation.statusMessageId);
    expect(await live('alice')).toHaveLength(2);
    // The loser's hold went with it: 3 more fit under the limit of 5.
    for (const p of ['a', 'b', 'c']) await h.service.submit({ requester: alice, conversation, request: { prompt: p } });
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'd' } })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('frees the slot again when the status message cannot be posted', async () => {
    await setup({ access: { maxJobsPerUser: 1 } });
    chat.failAnnounce = true;
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } })).rejects.toThrow('channel gone');
    expect(await live('alice')).toHaveLength(0);
    chat.failAnnounce = false;
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' } });
    expect(await live('alice')).toHaveLength(1);
  });

  it('calls `admitted` only for a request that passed every check and holds its slot, before announcing', async () => {
    await setup({ access: { maxJobsPerUser: 1 } });
    const order: string[] = [];
    const announce = chat.announce.bind(chat);
    chat.announce = async (job) => (order.push('announce'), announce(job));
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'x' }, admitted: async () => void order.push('admitted') });
    await expect(
      h.service.submit({ requester: alice, conversation, request: { prompt: 'y' }, admitted: async () => void order.push('admitted too') }),
    ).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(order).toEqual(['admitted', 'announce']);
  });

  it('makes Retry, Regenerate and Edit prompt through the same door, with the earlier job\'s settings', async () => {
    await setup({ access: { maxJobsPerUser: 10 } });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', seed: 7, steps: 3 } });
    const retry = await h.service.submit({ requester: alice, conversation, redo: { jobId: job.id } });
    const regen = await h.service.submit({ requester: alice, conversation, redo: { jobId: job.id, newSeed: true } });
    const edit = await h.service.submit({ requester: bob, conversation, redo: { jobId: job.id, prompt: 'a wasp' } });
    expect(retry.job.params).toMatchObject({ prompt: 'a bee', seed: 7, steps: 3 });
    expect(regen.job.params).toMatchObject({ prompt: 'a bee', steps: 3 });
    expect(regen.job.params.seed).not.toBe(7);
    expect(edit.job).toMatchObject({ params: { prompt: 'a wasp', seed: 7 }, requester: bob });
    expect(chat.announced).toHaveLength(4);
    await expect(h.service.submit({ requester: alice, conversation, redo: { jobId: 'nope' } })).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
  });

  it('takes a double click on Retry or Regenerate as one click, for ten seconds', async () => {
    await setup({ access: { maxJobsPerUser: 20 } });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', seed: 7 } });
    const redo = (by: typeof alice, changes: { prompt?: string; newSeed?: boolean } = {}) => h.service.submit({ requester: by, conversation, redo: { jobId: job.id, ...changes } });
    await redo(alice, { newSeed: true });
    await expect(redo(alice, { newSeed: true })).rejects.toMatchObject({
      code: 'DUPLICATE_REQUEST',
      message: 'You clicked that a moment ago; one new video is already on its way.',
    });
    // Another button, another person, or an edited prompt is another request.
    await redo(alice);
    await redo(bob, { newSeed: true });
    await redo(alice, { prompt: 'a wasp' });
    await redo(alice, { prompt: 'a wasp' });
    h.clock.advance(9_999);
    await expect(redo(alice, { newSeed: true })).rejects.toMatchObject({ code: 'DUPLICATE_REQUEST' });
    h.clock.advance(1);
    await redo(alice, { newSeed: true });
    expect(chat.announced).toHaveLength(7);
  });

  it('does not count a refused click as the click: trying again once there is room works', async () => {
    await setup({ access: { maxJobsPerUser: 1 } });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
    await expect(h.service.submit({ requester: alice, conversation, redo: { jobId: job.id, newSeed: true } })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await h.service.cancel(job.id, alice);
    await h.service.submit({ requester: alice, conversation, redo: { jobId: job.id, newSeed: true } });
    expect(await live('alice')).toHaveLength(1);
  });
});
