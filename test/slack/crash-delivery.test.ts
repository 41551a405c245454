// A bot killed while it uploads a video (issue 13 item 6): after a restart the video is in the thread exactly once,
// at start-up (the clock does not move: no waiting out a stale upload), whether the upload went out or not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackAdapter, type SlackAdapter } from '../../bot/chat/slack.js';
import { createJobService, type JobService } from '../../bot/core/service.js';
import { FsObjectStore } from '../../bot/local/files.js';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { Crash } from '../support/crash.js';
import { ManualClock, ScriptedRunner, eventually, sequentialIds, testLogger } from '../support/harness.js';
import { BOT_ID, FakeSlack } from './fake-slack.js';
import { SlackSender, slashCommand } from './payloads.js';
import { ALICE, APP_TOKEN, BOT_TOKEN, SIGNING_SECRET } from './setup.js';

interface Bot {
  readonly adapter: SlackAdapter;
  readonly service: JobService;
  readonly runner: ScriptedRunner;
  readonly slack: SlackSender;
}

describe('Slack: a crash while the video is uploaded', () => {
  let fake: FakeSlack;
  let dir: string;
  let clock: ManualClock;
  let store: SqliteJobStore;
  let objects: FsObjectStore;
  const running: Bot[] = [];

  afterEach(async () => {
    for (const bot of running.splice(0)) {
      await bot.adapter.stop();
      await bot.service.stop();
    }
    await fake?.close();
    store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function setup(): Promise<void> {
    fake = await FakeSlack.start({ botToken: BOT_TOKEN, appToken: APP_TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'videobot-crash-'));
    clock = new ManualClock();
    store = new SqliteJobStore(':memory:', clock);
    objects = new FsObjectStore(join(dir, 'objects'));
  }

  async function boot(idPrefix: string, crash?: { crash: Crash; when: 'before' | 'after' }): Promise<Bot> {
    const adapter = createSlackAdapter({ botToken: BOT_TOKEN, appToken: APP_TOKEN, signingSecret: SIGNING_SECRET, mode: 'http', port: 0, apiUrl: fake.apiUrl, logger: testLogger() });
    const runner = new ScriptedRunner(objects);
    const service = createJobService({
      store: crash ? crash.crash.wrap(store) : store,
      objects,
      runner,
      chats: [crash ? crash.crash.surface(adapter.surface, crash.when) : adapter.surface],
      clock,
      ids: sequentialIds(idPrefix),
      logger: testLogger(),
      defaultModel: 'tiny-random',
      limits: { statusIntervalMs: 0, retryBackoffMs: 0 },
    });
    await service.start();
    await adapter.start(service);
    const bot = { adapter, service, runner, slack: new SlackSender(`http://127.0.0.1:${adapter.httpPort() ?? 0}/slack/events`, SIGNING_SECRET) };
    if (!crash) running.push(bot);
    return bot;
  }

  async function jobCutOff(when: 'before' | 'after'): Promise<{ jobId: string; thread: string }> {
    const crash = new Crash();
    const first = await boot('j', { crash, when });
    await first.slack.form(slashCommand('/video', 'a lighthouse in a storm', ALICE, fake.responseUrl()));
    const job = await eventually(() => first.runner.submitted[0], 5000, 'runner submit');
    void first.runner.complete(job.id); // never returns: the bot dies inside it
    await eventually(() => crash.crashed, 5000, 'the crash');
    await first.adapter.stop();
    const stored = (await store.get(job.id))!;
    expect(stored.state).toBe('uploading');
    return { jobId: job.id, thread: stored.conversation.threadId! };
  }

  const videosIn = (thread: string) => [...fake.messages.values()].filter((m) => m.thread_ts === thread && m.bot_id === BOT_ID && (m.files ?? []).length > 0);

  it('the upload went out but was never recorded: the restarted bot finds it in the thread and uploads nothing more', async () => {
    await setup();
    const { jobId, thread } = await jobCutOff('after');
    expect(videosIn(thread)).toHaveLength(1);
    await boot('k');
    await eventually(async () => (await store.get(jobId))?.state === 'delivered', 5000, 'delivered at start-up');
    expect(videosIn(thread)).toHaveLength(1);
    expect(fake.callsTo('files.completeUploadExternal')).toHaveLength(1);
    expect(fake.callsTo('conversations.replies').at(-1)?.args).toMatchObject({ channel: ALICE.channel, ts: thread });
    await eventually(() => fake.messages.get(thread)?.text === 'Done', 5000, 'the final status');
  });

  it('the bot died before the upload: the restarted bot uploads the video once, at start-up', async () => {
    await setup();
    const { jobId, thread } = await jobCutOff('before');
    expect(videosIn(thread)).toHaveLength(0);
    await boot('k');
    await eventually(async () => (await store.get(jobId))?.state === 'delivered', 5000, 'delivered at start-up');
    expect(videosIn(thread)).toHaveLength(1);
    expect(videosIn(thread)[0]!.files![0]!.name).toBe(`videobot-${jobId}.mp4`);
    await eventually(() => fake.messages.get(thread)?.text === 'Done', 5000, 'the final status');
  });
});
