// The Slack adapter in Socket Mode: Bolt's SocketModeReceiver against the fake's loopback WebSocket.
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION } from '../../bot/chat/slack/blocks.js';
import { eventually } from '../support/harness.js';
import { BOT_USER_ID } from './fake-slack.js';
import { blockAction, eventCallback, slashCommand } from './payloads.js';
import { ALICE, APP_TOKEN, BOB, nthSubmitted, startWorld, statusMessageOf, type SlackWorld } from './setup.js';

describe('Slack adapter (Socket Mode)', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('connects through apps.connections.open and runs a slash command envelope to an uploaded video', async () => {
    w = await startWorld({ mode: 'socket' });
    const { fake, h } = w;
    // The app token, not the bot token, opens the connection; the socket is open once start() returned.
    expect(fake.calls.find((c) => c.method === 'apps.connections.open')?.token).toBe(APP_TOKEN);
    expect(fake.socketCount).toBe(1);

    const ack = await fake.deliver('slash_commands', slashCommand('/video', 'a bee --seed 9', ALICE, fake.responseUrl()));
    expect(ack.envelope_id).toBeTruthy();
    const job = await nthSubmitted(w);
    expect(job.params).toMatchObject({ prompt: 'a bee', seed: 9 });
    const status = statusMessageOf(w, job);
    expect(status.channel).toBe(ALICE.channel);

    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.complete(job.id);
    const upload = await eventually(() => [...fake.uploads.values()].find((u) => u.completed), 5000, 'upload');
    expect(upload.completed).toMatchObject({ channel_id: ALICE.channel, thread_ts: status.ts });
  });

  it('answers a bad flag in the envelope ack', async () => {
    w = await startWorld({ mode: 'socket' });
    const ack = await w.fake.deliver('slash_commands', slashCommand('/video', 'a bee --model nope', ALICE, w.fake.responseUrl()));
    expect(ack.payload).toMatchObject({ response_type: 'ephemeral' });
    expect(ack.payload.text).toMatch(/Unknown model "nope"/);
    expect(w.fake.callsTo('chat.postMessage')).toHaveLength(0);
  });

  it('handles events and buttons over the socket (mention, then a refused cancel)', async () => {
    w = await startWorld({ mode: 'socket' });
    const { fake } = w;
    await fake.deliver('events_api', eventCallback({ type: 'app_mention', user: ALICE.user, channel: ALICE.channel, ts: '1700000900.000100', text: `<@${BOT_USER_ID}> a heron takes off` }));
    const job = await nthSubmitted(w);
    expect(job.conversation.threadId).toBe('1700000900.000100');
    await fake.deliver('interactive', blockAction(ACTION.cancel, job.id, BOB, { ts: job.conversation.statusMessageId! }, fake.responseUrl()));
    const refusal = await eventually(() => fake.callsTo('chat.postEphemeral')[0], 5000, 'refusal');
    expect(refusal.args).toMatchObject({ user: BOB.user, channel: ALICE.channel });
  });
});
