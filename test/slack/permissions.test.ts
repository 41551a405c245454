// Fail before the GPU, not after it: an app whose token lacks files:write (Slack reports the scopes with every answer,
// x-oauth-scopes) refuses a request at submit, privately, saying what to fix — nothing is posted and nothing runs.
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../bot/chat/slack.js';
import { createHarness, eventually, testLogger, type Harness } from '../support/harness.js';
import { FakeSlack } from './fake-slack.js';
import { SlackSender, slashCommand } from './payloads.js';
import { ALICE, APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, nthSubmitted, startWorld, type SlackWorld } from './setup.js';

describe('Slack: what the app may do, checked at submit', () => {
  let fake: FakeSlack | undefined;
  let adapter: SlackAdapter | undefined;
  let h: Harness | undefined;
  afterEach(async () => {
    await adapter?.stop();
    await h?.close();
    await fake?.close();
    fake = adapter = h = undefined;
  });

  async function start(scopes: string[]): Promise<SlackSender> {
    fake = await FakeSlack.start({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
    fake.scopes = scopes;
    adapter = createSlackAdapter({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, mode: 'http', port: 0, apiUrl: fake.apiUrl, logger: testLogger() });
    h = await createHarness([adapter.surface]);
    await adapter.start(h.service);
    return new SlackSender(`http://127.0.0.1:${adapter.httpPort()}/slack/events`, SIGNING_SECRET);
  }

  it('refuses /video without files:write in one private sentence; nothing is posted or run', async () => {
    const slack = await start(['commands', 'chat:write', 'files:read', 'app_mentions:read', 'im:history']);
    await slack.form(slashCommand('/video', 'a bee', ALICE, fake!.responseUrl('refused')));
    // Acknowledged once admitted; the refusal follows through the command's response_url, privately.
    const reply = await eventually(() => fake!.responses.find((r) => r.id === 'refused'), 5000, 'the private reply');
    expect(reply.body).toEqual({
      response_type: 'ephemeral',
      text: "I can't upload videos in this workspace: the app is missing the files:write permission. Ask a workspace admin to add it (see slack/manifest.yaml) and reinstall the app.",
    });
    expect(fake!.callsTo('chat.postMessage')).toEqual([]);
    expect(h!.runner.submitted).toEqual([]);
    expect(await h!.store.listByUser('slack', ALICE.user, 5)).toEqual([]);
  });

  it('takes the request when the token has files:write', async () => {
    const slack = await start(['commands', 'chat:write', 'files:read', 'files:write']);
    expect((await slack.form(slashCommand('/video', 'a bee', ALICE, fake!.responseUrl()))).body).toBe('');
    await eventually(() => h!.runner.submitted.length === 1, 5000, 'the job to reach the runner');
  });

  describe('a video the workspace will not take for its size', () => {
    let w: SlackWorld | undefined;
    afterEach(async () => {
      await w?.close();
      w = undefined;
    });

    it('is posted in the thread as where to find it (file_upload_size_restricted), and the job is delivered', async () => {
      w = await startWorld();
      await w.slack.form(slashCommand('/video', 'a long take', ALICE, w.fake.responseUrl()));
      const job = await nthSubmitted(w);
      w.fake.failNext('files.getUploadURLExternal', 'file_upload_size_restricted');
      await w.h.runner.complete(job.id);
      await eventually(async () => (await w!.h.store.get(job.id))?.state === 'delivered', 5000, 'delivered');
      const posted = w.fake.callsTo('chat.postMessage').map((c) => c.args).filter((a) => String(a.text).includes('more than this workspace lets apps upload'));
      expect(posted).toHaveLength(1);
      const stored = (await w.h.store.get(job.id))!;
      expect(posted[0]).toMatchObject({ channel: ALICE.channel, thread_ts: stored.conversation.statusMessageId });
      expect(posted[0]!.text).toContain("this bot has no download links, so it is saved on the bot's machine");
      expect(posted[0]!.text).not.toContain('file:');
      expect(w.fake.uploads.size).toBe(0);
    });
  });
});
