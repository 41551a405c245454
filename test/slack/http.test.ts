// The Slack adapter in HTTP mode: the real Bolt app, signed requests, a fake Slack Web API, a real JobService.
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION, ANIMATE_SHORTCUT, PROMPT_BLOCK, PROMPT_INPUT } from '../../bot/chat/slack/blocks.js';
import { LIVE_STATES } from '../../bot/core/job.js';
import type { Enhancer } from '../../bot/core/ports.js';
import { eventually } from '../support/harness.js';
import { BOT_USER_ID } from './fake-slack.js';
import { blockAction, eventCallback, messageShortcut, pngHeader, slashCommand, viewSubmission } from './payloads.js';
import { ALICE, BOB, buttonsOf, nthSubmitted, startWorld, statusMessageOf, type SlackWorld } from './setup.js';

describe('Slack adapter (HTTP mode)', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('runs /video from the slash command to an MP4 uploaded in the status thread', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    const res = await slack.form(slashCommand('/video', 'a bee on a sunflower --seed 7 --steps 4', ALICE, fake.responseUrl()));
    expect(res.status).toBe(200);

    const job = await nthSubmitted(w);
    const status = statusMessageOf(w, job);
    expect(status.channel).toBe(ALICE.channel);
    expect(status.thread_ts).toBeUndefined(); // the status message is the thread root
    expect(job.conversation).toEqual({ platform: 'slack', channelId: ALICE.channel, threadId: status.ts, statusMessageId: status.ts });
    expect(job.requester).toMatchObject({ platform: 'slack', userId: ALICE.user });
    expect(job.requestKey).toMatch(/^slack:/);
    expect(job.params).toMatchObject({ prompt: 'a bee on a sunflower', seed: 7, steps: 4 });

    // Live progress edits the same message, with a Cancel button while running.
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.progress(job.id, 2, 4);
    await eventually(() => /step 2\/4/.test(statusMessageOf(w!, job).text ?? ''), 5000, 'progress edit');
    expect(JSON.stringify(statusMessageOf(w, job).blocks)).toContain('██████████░░░░░░░░░░');
    expect(buttonsOf(statusMessageOf(w, job))).toContain(ACTION.cancel);

    await h.runner.complete(job.id);
    const upload = await eventually(() => [...fake.uploads.values()].find((u) => u.completed), 5000, 'upload');
    expect(upload.filename).toBe(`videobot-${job.id}.mp4`);
    expect(new Uint8Array(upload.bytes!)).toEqual(h.runner.video);
    expect(upload.completed).toMatchObject({ channel_id: ALICE.channel, thread_ts: status.ts });
    expect(upload.completed!.initial_comment).toContain('a bee on a sunflower');
    expect(upload.completed!.initial_comment).toContain('seed 7');
    expect(upload.completed!.initial_comment).toContain('tiny-random');

    await eventually(() => statusMessageOf(w!, job).text === 'Done', 5000, 'final edit');
    expect(buttonsOf(statusMessageOf(w, job))).toEqual([ACTION.regenerate, ACTION.editPrompt, ACTION.extend, ACTION.details]);
    expect((await h.store.get(job.id))?.state).toBe('delivered');
    expect(fake.callsTo('files.getUploadURLExternal')).toHaveLength(1);
  });

  it('answers a bad flag in the ack, privately, and starts nothing', async () => {
    w = await startWorld();
    const res = await w.slack.form(slashCommand('/video', 'a bee --frames lots', ALICE, w.fake.responseUrl()));
    expect(res.status).toBe(200);
    const reply = JSON.parse(res.body) as { response_type: string; text: string };
    expect(reply.response_type).toBe('ephemeral');
    expect(reply.text).toContain('--frames must be a whole number');
    expect(w.fake.callsTo('chat.postMessage')).toHaveLength(0);
  });

  it('rejects a bad signature and a stale timestamp with 401', async () => {
    w = await startWorld();
    const body = slashCommand('/video', 'a bee', ALICE, w.fake.responseUrl());
    const forged = await w.slack.form(body, { secret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    const stale = await w.slack.form(body, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(stale.status).toBe(401);
    // The same request, correctly signed and fresh, is accepted: the two above failed for their signatures alone.
    const good = await w.slack.form(body);
    expect(good.status).toBe(200);
    await nthSubmitted(w);
    expect(w.h.runner.submitted).toHaveLength(1);
    expect(w.fake.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('never starts a second job for a retried delivery (X-Slack-Retry-Num)', async () => {
    w = await startWorld();
    const body = slashCommand('/video', 'a bee', ALICE, w.fake.responseUrl());
    expect((await w.slack.form(body)).status).toBe(200);
    expect((await w.slack.form(body, { retryNum: 1 })).status).toBe(200);
    const mention = eventCallback({ type: 'app_mention', user: ALICE.user, channel: ALICE.channel, ts: '1700000500.000100', text: `<@${BOT_USER_ID}> a fox` });
    expect((await w.slack.event(mention)).status).toBe(200);
    expect((await w.slack.event(mention, { retryNum: 1 })).status).toBe(200);
    // A different request afterwards marks the point by which the duplicates were handled.
    expect((await w.slack.form(slashCommand('/video', 'a cat', BOB, w.fake.responseUrl()))).status).toBe(200);
    const jobs = () => w!.h.store.listByState(LIVE_STATES);
    await eventually(async () => (await jobs()).some((j) => j.params.prompt === 'a cat'), 5000, 'sentinel job');
    expect((await jobs()).map((j) => j.params.prompt).sort()).toEqual(['a bee', 'a cat', 'a fox']);
    expect(w.fake.callsTo('chat.postMessage').filter((c) => c.args.text === 'Queued…')).toHaveLength(3);
    expect(w.fake.callsTo('chat.delete')).toHaveLength(0);
  });

  it('keeps delivering when a status edit gets 429, and sends the edit after Retry-After', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a bee', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await eventually(() => /Starting/.test(statusMessageOf(w!, job).text ?? ''), 5000, 'first edit');

    fake.rateLimitNext('chat.update', 2);
    const before = Date.now();
    await h.runner.complete(job.id); // returns once the video is posted
    const upload = await eventually(() => [...fake.uploads.values()].find((u) => u.completed), 5000, 'upload');
    const limited = fake.calls.find((c) => c.method === 'chat.update' && c.rateLimited);
    expect(limited).toBeDefined();
    // A shared Web API client would pause every call for the 2 s Retry-After; the upload must not wait.
    expect(upload.completed!.at - before).toBeLessThan(1500);

    // The held edit goes out once Retry-After has passed, and it is the newest view ("Done"), not the stale one.
    await eventually(() => statusMessageOf(w!, job).text === 'Done', 5000, 'deferred final edit');
    const after = fake.callsTo('chat.update').filter((c) => c.at > limited!.at);
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]!.at - limited!.at).toBeGreaterThanOrEqual(1900);
    expect(after.map((c) => c.args.text)).not.toContain('Uploading the video…');
  });

  it('refuses Cancel from someone else, privately, and lets the requester cancel', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a bee', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    const status = statusMessageOf(w, job);

    await slack.interactive(blockAction(ACTION.cancel, job.id, BOB, { ts: status.ts }, fake.responseUrl()));
    const refusal = await eventually(() => fake.callsTo('chat.postEphemeral').find((c) => c.args.user === BOB.user), 5000, 'refusal');
    expect(refusal.args.text).toMatch(/Only the person who asked for this video, or an admin, can cancel it/);
    expect(refusal.args.channel).toBe(ALICE.channel);
    expect((await h.store.get(job.id))?.state).not.toBe('cancelled');
    expect(h.runner.cancelled).toEqual([]);

    await slack.interactive(blockAction(ACTION.cancel, job.id, ALICE, { ts: status.ts }, fake.responseUrl()));
    await eventually(async () => (await h.store.get(job.id))?.state === 'cancelled', 5000, 'cancel');
    await eventually(() => statusMessageOf(w!, job).text === 'Cancelled', 5000, 'cancelled edit');
  });

  it('lets admins cancel anyone’s job', async () => {
    w = await startWorld({ service: { access: { admins: [`slack:${BOB.user}`] } } });
    await w.slack.form(slashCommand('/video', 'a bee', ALICE, w.fake.responseUrl()));
    const job = await nthSubmitted(w);
    await w.slack.interactive(blockAction(ACTION.cancel, job.id, BOB, { ts: job.conversation.statusMessageId! }, w.fake.responseUrl()));
    await eventually(async () => (await w!.h.store.get(job.id))?.state === 'cancelled', 5000, 'admin cancel');
  });

  it('/enhance → Edit & generate: a pre-filled modal whose submission starts the edited prompt', async () => {
    const enhancer: Enhancer = { name: 'fake', enhance: async (text) => `${text}, golden hour, slow dolly shot, shallow depth of field` };
    w = await startWorld({ service: { enhancer } });
    const { fake, h, slack } = w;
    const responseUrl = fake.responseUrl('enhance-1');
    expect((await slack.form(slashCommand('/enhance', 'a fox in snow', ALICE, responseUrl))).status).toBe(200);
    const card = await eventually(() => fake.responses.find((r) => r.id === 'enhance-1'), 5000, 'enhance reply');
    const enhanced = 'a fox in snow, golden hour, slow dolly shot, shallow depth of field';
    expect(card.body.response_type).toBe('ephemeral');
    expect(JSON.stringify(card.body.blocks)).toContain(enhanced);
    expect(buttonsOf(card.body)).toEqual([ACTION.enhanceGenerate, ACTION.enhanceEdit, ACTION.enhanceAgain]);

    await slack.interactive(blockAction(ACTION.enhanceEdit, enhanced, ALICE, { ts: '1700000001.000001' }, responseUrl, { ephemeral: true }));
    const opened = await eventually(() => fake.callsTo('views.open')[0], 5000, 'modal');
    const view = opened.args.view as { callback_id: string; private_metadata: string; blocks: any[] };
    expect(view.blocks[0].element.initial_value).toBe(enhanced);

    const edited = `${enhanced}, snowflakes in focus --seed 11`;
    const submitted = await slack.interactive(
      viewSubmission({ id: 'V0MODAL1', ...view }, ALICE.user, { [PROMPT_BLOCK]: { [PROMPT_INPUT]: { type: 'plain_text_input', value: edited } } }),
    );
    expect(submitted.status).toBe(200);
    const job = await nthSubmitted(w);
    expect(job.params.prompt).toBe(`${enhanced}, snowflakes in focus`);
    expect(job.params.seed).toBe(11);
    expect(job.conversation.channelId).toBe(ALICE.channel);
    expect(statusMessageOf(w, job).channel).toBe(ALICE.channel);
    expect(h.runner.submitted).toHaveLength(1);
  });

  it('/enhance explains how to set an enhancer up when none is configured', async () => {
    w = await startWorld();
    await w.slack.form(slashCommand('/enhance', 'a fox', ALICE, w.fake.responseUrl('e2')));
    const reply = await eventually(() => w!.fake.responses.find((r) => r.id === 'e2'), 5000, 'reply');
    expect(reply.body.text).toMatch(/OPENAI_BASE_URL/);
  });

  it('animates an image from a mention, in the mention’s thread', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    const png = pngHeader(640, 480);
    const file = fake.addFile('cat.png', png, 'image/png');
    const ts = '1700000600.000200';
    await slack.event(eventCallback({ type: 'app_mention', user: ALICE.user, channel: ALICE.channel, ts, text: `<@${BOT_USER_ID}> the cat blinks slowly`, files: [file] }));
    const job = await nthSubmitted(w);
    expect(job.params).toMatchObject({ mode: 'i2v', prompt: 'the cat blinks slowly', image: 'image.png' });
    expect(job.conversation).toMatchObject({ channelId: ALICE.channel, threadId: ts });
    expect(statusMessageOf(w, job).thread_ts).toBe(ts);
    expect(new Uint8Array((await h.objects.getInput(job.id, 'image.png'))!)).toEqual(png);

    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.complete(job.id);
    const upload = await eventually(() => [...fake.uploads.values()].find((u) => u.completed), 5000, 'upload');
    expect(upload.completed).toMatchObject({ channel_id: ALICE.channel, thread_ts: ts });
  });

  it('animates an image from the "Animate with videobot" shortcut via the prompt modal', async () => {
    w = await startWorld();
    const { fake, slack } = w;
    const jpeg = fake.addFile('beach.png', pngHeader(1280, 720), 'image/png');
    const message = { ts: '1700000700.000300', text: 'look at this', user: BOB.user, files: [jpeg] };
    await slack.interactive(messageShortcut(ANIMATE_SHORTCUT, ALICE, message, fake.responseUrl()));
    const opened = await eventually(() => fake.callsTo('views.open')[0], 5000, 'modal');
    const view = opened.args.view as { callback_id: string; private_metadata: string };
    await slack.interactive(viewSubmission({ id: 'V0MODAL2', ...view }, ALICE.user, { [PROMPT_BLOCK]: { [PROMPT_INPUT]: { type: 'plain_text_input', value: 'waves roll onto the beach' } } }));
    const job = await nthSubmitted(w);
    expect(job.params).toMatchObject({ mode: 'i2v', prompt: 'waves roll onto the beach' });
    expect(job.requester.userId).toBe(ALICE.user);
    expect(job.conversation).toMatchObject({ channelId: ALICE.channel, threadId: message.ts });
  });

  it('animates an image sent in a DM and ignores the bot’s own messages there', async () => {
    w = await startWorld();
    const { fake, slack } = w;
    const file = fake.addFile('dog.png', pngHeader(512, 512), 'image/png');
    const dm = { channel: 'D0ALICE', channel_type: 'im' };
    await slack.event(eventCallback({ type: 'message', bot_id: 'B0OTHER', user: 'U0OTHERBOT', ...dm, ts: '1700000750.000100', text: 'a bot says hi' }));
    await slack.event(eventCallback({ type: 'message', subtype: 'file_share', user: ALICE.user, ...dm, ts: '1700000760.000100', text: 'the dog wags its tail', files: [file] }));
    const job = await nthSubmitted(w);
    expect(job.params).toMatchObject({ mode: 'i2v', prompt: 'the dog wags its tail' });
    const status = statusMessageOf(w, job);
    expect(status.channel).toBe('D0ALICE');
    expect(job.conversation).toMatchObject({ channelId: 'D0ALICE', threadId: status.ts });
    expect(w.h.runner.submitted).toHaveLength(1);
  });

  it('Regenerate makes a new job with a new seed in the same thread; Details opens a modal', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a bee --seed 5', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.complete(job.id);
    const status = statusMessageOf(w, job);
    await eventually(() => statusMessageOf(w!, job).text === 'Done', 5000, 'done');

    await slack.interactive(blockAction(ACTION.details, job.id, BOB, { ts: status.ts }, fake.responseUrl()));
    const details = await eventually(() => fake.callsTo('views.open')[0], 5000, 'details modal');
    expect(JSON.stringify(details.args.view)).toContain(`Job ${job.id} — delivered`);

    await slack.interactive(blockAction(ACTION.regenerate, job.id, BOB, { ts: status.ts }, fake.responseUrl()));
    const again = await nthSubmitted(w, 2);
    expect(again.params.prompt).toBe('a bee');
    expect(again.params.seed).not.toBe(5);
    expect(again.requester.userId).toBe(BOB.user);
    expect(again.conversation).toMatchObject({ channelId: ALICE.channel, threadId: status.ts });
  });

  it('answers a web page instead of an image with a clear private reply and starts nothing', async () => {
    w = await startWorld();
    const { fake, slack } = w;
    const file = fake.addFile('photo.png', pngHeader(10, 10), 'image/png', { alwaysHtml: true });
    await slack.event(eventCallback({ type: 'app_mention', user: ALICE.user, channel: ALICE.channel, ts: '1700000800.000100', text: `<@${BOT_USER_ID}> zoom in`, files: [file] }));
    const reply = await eventually(() => fake.callsTo('chat.postEphemeral')[0], 5000, 'reply');
    expect(reply.args).toMatchObject({ user: ALICE.user, channel: ALICE.channel, thread_ts: '1700000800.000100' });
    expect(reply.args.text).toMatch(/sent a web page instead of the image/);
    expect(fake.callsTo('chat.postMessage')).toHaveLength(0);
    expect(w.h.runner.submitted).toHaveLength(0);
  });

  it('never sends the bot token to a file host that is not Slack’s', async () => {
    w = await startWorld();
    const file = { ...w.fake.addFile('x.png', pngHeader(10, 10), 'image/png'), url_private_download: 'http://files.example.org/x.png' };
    await w.slack.event(eventCallback({ type: 'app_mention', user: ALICE.user, channel: ALICE.channel, ts: '1700000850.000100', text: `<@${BOT_USER_ID}> spin`, files: [file] }));
    const reply = await eventually(() => w!.fake.callsTo('chat.postEphemeral')[0], 5000, 'reply');
    expect(reply.args.text).toMatch(/not stored in Slack/);
    expect(w.h.runner.submitted).toHaveLength(0);
  });

  it('asks to be invited when it cannot post in the channel', async () => {
    w = await startWorld();
    w.fake.notInChannel.add('C0PRIVATE');
    const where = { user: ALICE.user, channel: 'C0PRIVATE' };
    await w.slack.form(slashCommand('/video', 'a bee', where, w.fake.responseUrl('private')));
    const reply = await eventually(() => w!.fake.responses.find((r) => r.id === 'private'), 5000, 'reply');
    expect(reply.body.text).toMatch(/Invite me first/);
    expect(await w.h.store.listByState(LIVE_STATES)).toHaveLength(0);

    // From the shortcut's modal there is no response_url: the reply falls back to the person's DM with the app.
    const file = w.fake.addFile('a.png', pngHeader(64, 64), 'image/png');
    await w.slack.interactive(messageShortcut(ANIMATE_SHORTCUT, where, { ts: '1700000990.000100', text: '', user: BOB.user, files: [file] }, w.fake.responseUrl()));
    const opened = await eventually(() => w!.fake.callsTo('views.open')[0], 5000, 'modal');
    const view = opened.args.view as { callback_id: string; private_metadata: string };
    await w.slack.interactive(viewSubmission({ id: 'V0MODAL3', ...view }, ALICE.user, { [PROMPT_BLOCK]: { [PROMPT_INPUT]: { type: 'plain_text_input', value: 'spin' } } }));
    const dm = await eventually(() => w!.fake.callsTo('chat.postMessage').find((c) => c.args.channel === ALICE.user), 5000, 'DM fallback');
    expect(dm.args.text).toMatch(/Invite me first/);
  });

  it('posts a failure in the thread with a Retry button that makes the same video again', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a bee --seed 5', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    await eventually(async () => (await h.store.get(job.id))?.state === 'starting');
    await h.runner.fail(job.id, 'GPU_OUT_OF_MEMORY', 'The GPU ran out of memory. Try fewer frames or a smaller model.', true);
    const status = statusMessageOf(w, job);
    const notice = await eventually(() => [...fake.messages.values()].find((m) => m.thread_ts === status.ts && /GPU ran out of memory/.test(m.text ?? '')), 5000, 'failure reply');
    expect(notice.text).toContain(`<@${ALICE.user}>`);
    expect(buttonsOf(notice)).toContain(ACTION.retry);

    await slack.interactive(blockAction(ACTION.retry, job.id, ALICE, { ts: notice.ts, thread_ts: status.ts }, fake.responseUrl()));
    const again = await nthSubmitted(w, 2);
    expect(again.params.seed).toBe(5);
    expect(again.conversation).toMatchObject({ channelId: ALICE.channel, threadId: status.ts });
    expect(statusMessageOf(w, again).thread_ts).toBe(status.ts);
  });

  it('refuses privately, before posting anything, when the JobService says no (access, limits)', async () => {
    w = await startWorld({ service: { access: { allowedUsers: [`slack:${BOB.user}`], maxJobsPerUser: 1 } } });
    const denied = await w.slack.form(slashCommand('/video', 'a bee', ALICE, w.fake.responseUrl()));
    expect(JSON.parse(denied.body)).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/not on the list/) });

    expect((await w.slack.form(slashCommand('/video', 'one', BOB, w.fake.responseUrl()))).body).toBe('');
    await nthSubmitted(w);
    const busy = await w.slack.form(slashCommand('/video', 'two', BOB, w.fake.responseUrl()));
    expect(JSON.parse(busy.body).text).toMatch(/limit is 1 at a time/);
    expect(w.fake.callsTo('chat.postMessage')).toHaveLength(1); // only the status message of "one"
    expect(w.h.runner.submitted).toHaveLength(1);
  });
});
