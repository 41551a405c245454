// Extend and Combine in Slack against the loopback Slack: the Extend button on a delivered card opens the prompt
// modal (views.open), its submission starts the continuation in the card's thread; /combine joins clips in order.
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION, PROMPT_BLOCK, PROMPT_INPUT } from '../../bot/chat/slack/blocks.js';
import { eventually } from '../support/harness.js';
import { blockAction, slashCommand, viewSubmission } from './payloads.js';
import { ALICE, buttonsOf, nthSubmitted, startWorld, statusMessageOf, type SlackWorld } from './setup.js';

describe('Slack: Extend and Combine', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  async function deliveredVideo(prompt: string, n: number) {
    const { fake, h, slack } = w!;
    await slack.form(slashCommand('/video', prompt, ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w!, n);
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting', 5000, 'starting');
    await h.runner.complete(job.id);
    await eventually(() => statusMessageOf(w!, job).text === 'Done', 5000, 'Done card');
    return job;
  }

  it('Extend on a delivered card: a modal with the prompt, then the continuation in the same thread', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    const clip = await deliveredVideo('a fox in the snow', 1);
    expect(buttonsOf(statusMessageOf(w, clip))).toEqual([ACTION.regenerate, ACTION.editPrompt, ACTION.extend, ACTION.details]);

    await slack.interactive(blockAction(ACTION.extend, clip.id, ALICE, { ts: clip.conversation.statusMessageId! }, fake.responseUrl()));
    const opened = await eventually(() => fake.callsTo('views.open')[0], 5000, 'modal');
    const view = opened.args.view as { callback_id: string; private_metadata: string; title: { text: string }; blocks: any[] };
    expect(view.title.text).toBe('Extend video');
    expect(view.blocks[0].element.initial_value).toBe('a fox in the snow');
    expect(JSON.parse(view.private_metadata)).toEqual({ kind: 'extend', jobId: clip.id });

    const res = await slack.interactive(
      viewSubmission({ id: 'V0EXTEND', ...view }, ALICE.user, { [PROMPT_BLOCK]: { [PROMPT_INPUT]: { type: 'plain_text_input', value: 'the fox runs into the trees' } } }),
    );
    expect(res.status).toBe(200);
    const extension = await nthSubmitted(w, 2);
    expect(extension).toMatchObject({
      source: { kind: 'extend', parentId: clip.id, extensions: 1 },
      params: { prompt: 'the fox runs into the trees', mode: 'i2v', parentVideo: 'parent.mp4' },
      conversation: { channelId: ALICE.channel, threadId: clip.conversation.statusMessageId },
    });
    expect(statusMessageOf(w, extension).thread_ts).toBe(clip.conversation.statusMessageId);
    expect(await h.objects.getInput(extension.id, 'parent.mp4')).toBeDefined();
  });

  it('refuses an Extend past the chain limit privately, posting nothing', async () => {
    w = await startWorld({ service: { limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxExtensions: 0 } } });
    const { fake, slack } = w;
    const clip = await deliveredVideo('a bee', 1);
    const posts = fake.callsTo('chat.postMessage').length;
    await slack.interactive(blockAction(ACTION.extend, clip.id, ALICE, { ts: clip.conversation.statusMessageId! }, fake.responseUrl()));
    const opened = await eventually(() => fake.callsTo('views.open')[0], 5000, 'modal');
    const view = opened.args.view as { callback_id: string; private_metadata: string };
    await slack.interactive(viewSubmission({ id: 'V0EXTEND', ...view }, ALICE.user, { [PROMPT_BLOCK]: { [PROMPT_INPUT]: { type: 'plain_text_input', value: 'more bee' } } }));
    const reply = await eventually(() => fake.callsTo('chat.postEphemeral').find((c) => String(c.args.text).includes('Extending')), 5000, 'private refusal');
    expect(reply.args).toMatchObject({ user: ALICE.user, text: 'Extending videos is turned off on this bot.' });
    expect(fake.callsTo('chat.postMessage')).toHaveLength(posts);
  });

  it('/combine joins the clips in order; a bad list is answered privately as the acknowledgement', async () => {
    w = await startWorld();
    const { fake, slack } = w;
    const a = await deliveredVideo('one', 1);
    const b = await deliveredVideo('two', 2);
    const ack = await slack.form(slashCommand('/combine', `${b.id} ${a.id}`, ALICE, fake.responseUrl()));
    expect(ack.status).toBe(200);
    const joined = await nthSubmitted(w, 3);
    expect(joined).toMatchObject({ source: { kind: 'combine', clipIds: [b.id, a.id] }, params: { clips: ['clip-0.mp4', 'clip-1.mp4'] } });
    expect(statusMessageOf(w, joined).channel).toBe(ALICE.channel);

    const refused = await slack.form(slashCommand('/combine', a.id, ALICE, fake.responseUrl()));
    expect(JSON.parse(refused.body)).toEqual({
      response_type: 'ephemeral',
      text: 'Combine joins 2 to 10 clips, given as job ids in order (e.g. /combine j1 j2); got 1.',
    });
    const help = await slack.form(slashCommand('/combine', '', ALICE, fake.responseUrl()));
    expect(JSON.parse(help.body).text).toMatch(/^Usage: `\/combine <job> <job> …`/);
  });
});
