// The message shortcut "Combine thread videos" against the loopback Slack: on any message of a thread it joins the
// thread's finished videos, oldest first, and the joined video's card goes into that thread; fewer than two videos is
// one private sentence. (A slash command carries no thread; the shortcut's payload carries the message and its thread_ts.)
import { afterEach, describe, expect, it } from 'vitest';
import { COMBINE_SHORTCUT } from '../../bot/chat/slack/blocks.js';
import { eventually } from '../support/harness.js';
import { messageShortcut } from './payloads.js';
import { ALICE, BOB, nthSubmitted, startWorld, statusMessageOf, type SlackWorld } from './setup.js';

describe('Slack: Combine thread videos', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  const thread = '1700000500.000100';

  async function deliveredInThread(prompt: string, who: { user: string }) {
    const { h } = w!;
    const { job } = await h.service.submit({
      requester: { platform: 'slack', userId: who.user },
      conversation: { platform: 'slack', channelId: ALICE.channel, threadId: thread },
      request: { prompt },
    });
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting', 5000, 'starting');
    await h.runner.complete(job.id);
    await eventually(async () => (await h.store.get(job.id))?.state === 'delivered', 5000, 'delivered');
    return job;
  }

  it("joins the thread's videos oldest first from a reply in the thread, and posts the card there", async () => {
    w = await startWorld();
    const { fake, slack } = w;
    const first = await deliveredInThread('chapter one', ALICE);
    const second = await deliveredInThread('chapter two', BOB);
    const reply = { ts: '1700000600.000200', thread_ts: thread, text: 'nice, join them', user: BOB.user };
    const res = await slack.interactive(messageShortcut(COMBINE_SHORTCUT, ALICE, reply, fake.responseUrl('combine')));
    expect(res.status).toBe(200);
    const joined = await nthSubmitted(w, 3);
    expect(joined).toMatchObject({
      source: { kind: 'combine', clipIds: [first.id, second.id] },
      requester: { platform: 'slack', userId: ALICE.user },
      conversation: { channelId: ALICE.channel, threadId: thread },
    });
    expect(statusMessageOf(w, joined).thread_ts).toBe(thread);
  });

  it('answers privately in one sentence on a message whose thread has fewer than two videos', async () => {
    w = await startWorld();
    const { fake, slack } = w;
    await deliveredInThread('a lone clip', ALICE);
    await slack.interactive(messageShortcut(COMBINE_SHORTCUT, ALICE, { ts: thread, text: 'the thread root', user: ALICE.user }, fake.responseUrl('few')));
    const reply = await eventually(() => fake.responses.find((r) => r.id === 'few'), 5000, 'the private reply');
    expect(reply.body).toMatchObject({
      response_type: 'ephemeral',
      text: 'Combine needs at least 2 finished videos here and found 1; give job ids in order instead (e.g. /combine j1 j2).',
    });
  });
});
