// The Slack behaviours around the main flow: Enhance again and Generate, quotas, a 429 on the upload,
// where the bot token may go when downloading an image, and an Edit prompt for a job that is gone.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webApi } from '@slack/bolt';
import { afterEach, describe, expect, it } from 'vitest';
import { isSlackFileUrl } from '../../bot/chat/slack.js';
import { ACTION, PROMPT_BLOCK, PROMPT_INPUT, PROMPT_VIEW } from '../../bot/chat/slack/blocks.js';
import type { Enhancer } from '../../bot/core/ports.js';
import { eventually } from '../support/harness.js';
import { BOT_USER_ID } from './fake-slack.js';
import { blockAction, eventCallback, pngHeader, slashCommand, viewSubmission } from './payloads.js';
import { ALICE, buttonsOf, nthSubmitted, startWorld, type SlackWorld } from './setup.js';

function countingEnhancer(): Enhancer & { calls: string[] } {
  const calls: string[] = [];
  return { name: 'test', calls, enhance: async (p: string) => (calls.push(p), `${p}, golden hour, take ${calls.length}`) };
}

describe('Slack adapter: buttons, limits, uploads and downloads', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('/enhance → Enhance again replaces the card with a new enhancement of the original; Generate starts it', async () => {
    const enhancer = countingEnhancer();
    w = await startWorld({ service: { enhancer } });
    const { fake, slack } = w;
    const responseUrl = fake.responseUrl('card');
    await slack.form(slashCommand('/enhance', 'rain on a window', ALICE, responseUrl));
    await eventually(() => fake.responses.find((r) => r.id === 'card'), 5000, 'first card');

    await slack.interactive(blockAction(ACTION.enhanceAgain, 'rain on a window', ALICE, { ts: '1700000001.000001' }, responseUrl, { ephemeral: true }));
    const second = await eventually(() => fake.responses.filter((r) => r.id === 'card')[1], 5000, 'second card');
    expect(enhancer.calls).toEqual(['rain on a window', 'rain on a window']);
    expect(second.body).toMatchObject({ response_type: 'ephemeral', replace_original: true });
    expect(JSON.stringify(second.body.blocks)).toContain('rain on a window, golden hour, take 2');
    expect(buttonsOf(second.body)).toEqual([ACTION.enhanceGenerate, ACTION.enhanceEdit, ACTION.enhanceAgain]);

    await slack.interactive(blockAction(ACTION.enhanceGenerate, 'rain on a window, golden hour, take 2', ALICE, { ts: '1700000001.000001' }, responseUrl, { ephemeral: true }));
    const job = await nthSubmitted(w);
    expect(job.params.prompt).toBe('rain on a window, golden hour, take 2');
    expect(job.requester.userId).toBe(ALICE.user);
    expect(job.conversation.channelId).toBe(ALICE.channel);
  });

  it('counts only delivered videos against the daily quota and says when the next one is possible', async () => {
    w = await startWorld({ service: { access: { dailyQuota: 1 } } });
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'one', ALICE, fake.responseUrl()));
    const failed = await nthSubmitted(w);
    await h.runner.fail(failed.id, 'GPU_OUT_OF_MEMORY', 'The GPU ran out of memory.', true);
    await eventually(async () => (await h.store.get(failed.id))?.state === 'failed', 5000, 'failed');

    expect((await slack.form(slashCommand('/video', 'two', ALICE, fake.responseUrl()))).body).toBe('');
    const delivered = await nthSubmitted(w, 2);
    await h.runner.complete(delivered.id);
    await eventually(async () => (await h.store.get(delivered.id))?.state === 'delivered', 5000, 'delivered');

    const refused = await slack.form(slashCommand('/video', 'three', ALICE, fake.responseUrl()));
    expect(JSON.parse(refused.body)).toEqual({
      response_type: 'ephemeral',
      text: 'You have made 1 video in the last 24 hours, the daily limit. You can make another in about 24 hours.',
    });
    expect(h.runner.submitted).toHaveLength(2);
  });

  it('refuses a Regenerate over the per-user limit privately, before posting anything', async () => {
    w = await startWorld({ service: { access: { maxJobsPerUser: 1 } } });
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'one', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    const posts = fake.callsTo('chat.postMessage').length;
    await slack.interactive(blockAction(ACTION.regenerate, job.id, ALICE, { ts: job.conversation.statusMessageId! }, fake.responseUrl()));
    const reply = await eventually(() => fake.callsTo('chat.postEphemeral').find((c) => String(c.args.text).includes('the limit is 1 at a time')), 5000, 'private refusal');
    expect(reply.args.user).toBe(ALICE.user);
    expect(fake.callsTo('chat.postMessage')).toHaveLength(posts);
    expect(fake.callsTo('chat.delete')).toHaveLength(0);
    expect(h.runner.submitted).toHaveLength(1);
  });

  it('takes a double click on Regenerate as one click: one new video, and a private word for the second click', async () => {
    w = await startWorld();
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a bee', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    await h.runner.complete(job.id);
    await eventually(async () => (await h.store.get(job.id))?.state === 'delivered', 5000, 'delivered');
    const posts = fake.callsTo('chat.postMessage').length;
    const click = () => blockAction(ACTION.regenerate, job.id, ALICE, { ts: job.conversation.statusMessageId! }, fake.responseUrl());
    await slack.interactive(click());
    await slack.interactive(click());
    await nthSubmitted(w, 2);
    const reply = await eventually(() => fake.callsTo('chat.postEphemeral').find((c) => String(c.args.text).includes('a moment ago')), 5000, 'private word');
    expect(reply.args).toMatchObject({ user: ALICE.user, text: 'You clicked that a moment ago; one new video is already on its way.' });
    expect(fake.callsTo('chat.postMessage')).toHaveLength(posts + 1);
    expect(h.runner.submitted).toHaveLength(2);
  });

  it('honours Retry-After on a 429 from the upload and still delivers the video once', async () => {
    // The client's ten retries as by default, without the second or two of back-off it adds after Retry-After.
    w = await startWorld({ adapter: { clientRetryConfig: { ...webApi.retryPolicies.tenRetriesInAboutThirtyMinutes, minTimeout: 0 } } });
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a bee', ALICE, fake.responseUrl()));
    const job = await nthSubmitted(w);
    fake.rateLimitNext('files.getUploadURLExternal', 1);
    await h.runner.complete(job.id);
    const upload = await eventually(() => [...fake.uploads.values()].find((u) => u.completed), 5000, 'upload');
    const limited = fake.calls.find((c) => c.method === 'files.getUploadURLExternal' && c.rateLimited)!;
    const retried = fake.callsTo('files.getUploadURLExternal');
    expect(retried).toHaveLength(1);
    expect(retried[0]!.at - limited.at).toBeGreaterThanOrEqual(950);
    expect(upload.completed).toMatchObject({ channel_id: ALICE.channel, thread_ts: job.conversation.statusMessageId });
    await eventually(async () => (await h.store.get(job.id))?.state === 'delivered', 5000, 'delivered');
    expect(fake.callsTo('files.completeUploadExternal')).toHaveLength(1);
  });

  it('follows a redirect within Slack with the token, but never sends the token to another host', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const elsewhere = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(Buffer.from(pngHeader(10, 10)));
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    try {
      w = await startWorld();
      const { fake, slack } = w;
      // "localhost" is the same machine but not the configured API origin, so it stands for a foreign host.
      const foreign = fake.addRedirectingFile('cat.png', 'image/png', `http://localhost:${(elsewhere.address() as AddressInfo).port}/cat.png`);
      await slack.event(eventCallback({ type: 'app_mention', user: ALICE.user, channel: ALICE.channel, ts: '1700000870.000100', text: `<@${BOT_USER_ID}> spin`, files: [foreign] }));
      const reply = await eventually(() => fake.callsTo('chat.postEphemeral')[0], 5000, 'reply');
      expect(reply.args.text).toMatch(/not stored in Slack/);
      expect(seen).toEqual([]);

      const real = fake.addFile('dog.png', pngHeader(64, 48), 'image/png');
      const inside = fake.addRedirectingFile('dog.png', 'image/png', real.url_private_download);
      await slack.event(eventCallback({ type: 'app_mention', user: ALICE.user, channel: ALICE.channel, ts: '1700000880.000100', text: `<@${BOT_USER_ID}> wag`, files: [inside] }));
      const job = await nthSubmitted(w);
      expect(job.params).toMatchObject({ mode: 'i2v', prompt: 'wag' });
      expect(w.h.runner.submitted).toHaveLength(1);
    } finally {
      await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
    }
  });

  it('trusts only HTTPS Slack hosts and the configured API origin with the token', () => {
    const api = 'http://127.0.0.1:4000/api/';
    expect(isSlackFileUrl(new URL('https://files.slack.com/files-pri/T1-F1/download/a.png'), api)).toBe(true);
    expect(isSlackFileUrl(new URL('https://files.slack-gov.com/files-pri/T1-F1/a.png'), api)).toBe(true);
    expect(isSlackFileUrl(new URL('http://files.slack.com/files-pri/T1-F1/a.png'), api)).toBe(false);
    expect(isSlackFileUrl(new URL('https://files.slack.com.evil.example/a.png'), api)).toBe(false);
    expect(isSlackFileUrl(new URL('https://evilslack.com/a.png'), api)).toBe(false);
    expect(isSlackFileUrl(new URL('http://127.0.0.1:4000/files-pri/a.png'), api)).toBe(true);
    expect(isSlackFileUrl(new URL('http://127.0.0.1:4001/files-pri/a.png'), api)).toBe(false);
    expect(isSlackFileUrl(new URL('http://127.0.0.1:4000/files-pri/a.png'))).toBe(false);
  });

  it('keeps an Edit prompt for a job the bot no longer knows in the modal, with a clear error', async () => {
    w = await startWorld();
    const view = { id: 'V0GONE', callback_id: PROMPT_VIEW, private_metadata: JSON.stringify({ kind: 'edit', jobId: 'j-gone' }) };
    const res = await w.slack.interactive(viewSubmission(view, ALICE.user, { [PROMPT_BLOCK]: { [PROMPT_INPUT]: { type: 'plain_text_input', value: 'a new prompt' } } }));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      response_action: 'errors',
      errors: { [PROMPT_BLOCK]: 'The video this prompt belongs to is no longer known to the bot. Use /video with the new prompt instead.' },
    });
    expect(w.fake.callsTo('chat.postMessage')).toHaveLength(0);
  });
});
