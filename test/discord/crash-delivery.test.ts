// A bot killed while it posts a video (issue 13 item 6): after a restart the video is in the thread exactly once,
// at start-up (the clock does not move: no waiting out a stale upload), whether the post went out or not.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatAdapter } from '../../bot/chat/adapter.js';
import { createDiscordAdapter } from '../../bot/chat/discord.js';
import { createJobService, type JobService } from '../../bot/core/service.js';
import { FsObjectStore } from '../../bot/local/files.js';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { Crash } from '../support/crash.js';
import { ManualClock, ScriptedRunner, eventually, sequentialIds, testLogger } from '../support/harness.js';
import { FakeDiscord, NONCE_WINDOW_MS, TOKEN, type FakeMessage } from './fake-discord.js';
import { prompt } from './setup.js';

interface Bot {
  readonly adapter: ChatAdapter;
  readonly service: JobService;
  readonly runner: ScriptedRunner;
}

describe('Discord: a crash while the video is posted', () => {
  let fake: FakeDiscord;
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
    fake = await FakeDiscord.start();
    dir = mkdtempSync(join(tmpdir(), 'videobot-crash-'));
    clock = new ManualClock();
    store = new SqliteJobStore(':memory:', clock);
    objects = new FsObjectStore(join(dir, 'objects'));
  }

  /** A bot on the shared store and files; with `crash`, one that dies in postVideo (and is then left for dead). */
  async function boot(idPrefix: string, crash?: { crash: Crash; when: 'before' | 'after' }): Promise<Bot> {
    const adapter = createDiscordAdapter({ token: TOKEN, applicationId: fake.applicationId, apiUrl: fake.apiUrl, logger: testLogger() });
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
    const bot = { adapter, service, runner };
    if (!crash) running.push(bot);
    return bot;
  }

  /** Runs one /video on a bot that dies while posting it; returns the job id and its status message. */
  async function jobCutOff(when: 'before' | 'after'): Promise<{ jobId: string; status: FakeMessage }> {
    const crash = new Crash();
    const first = await boot('j', { crash, when });
    const id = await fake.slashCommand('video', [prompt('a lighthouse in a storm')]);
    const reply = await eventually(() => fake.originalOf(id)?.content || undefined, 10_000, 'the interaction reply');
    const jobId = reply.match(/Started job (\S+?)\./)![1]!;
    await eventually(() => first.runner.submitted.length === 1, 5000, 'runner submit');
    void first.runner.complete(jobId); // never returns: the bot dies inside it
    await eventually(() => crash.crashed, 5000, 'the crash');
    await first.adapter.stop(); // its gateway connection drops with it
    expect((await store.get(jobId))?.state).toBe('uploading');
    const status = fake.messages.get((await store.get(jobId))!.conversation.statusMessageId!)!;
    return { jobId, status };
  }

  const videosIn = (threadId: string) => fake.channelMessages(threadId).filter((m) => m.files.some((f) => f.name.endsWith('.mp4')));

  it('the post went out but was never recorded: the restarted bot finds it and posts nothing more', async () => {
    await setup();
    const { jobId, status } = await jobCutOff('after');
    expect(videosIn(status.id)).toHaveLength(1);
    fake.advance(NONCE_WINDOW_MS + 60_000); // Discord no longer dedupes by the nonce: only finding the post helps
    await boot('k');
    await eventually(async () => (await store.get(jobId))?.state === 'delivered', 5000, 'delivered at start-up');
    expect(videosIn(status.id)).toHaveLength(1);
    expect(videosIn(status.id)[0]!.files[0]!.name).toBe(`videobot-${jobId}.mp4`);
    await eventually(() => status.content.includes('Done'), 5000, 'the final status');
  });

  it('the bot died before the post: the restarted bot posts the video once, at start-up', async () => {
    await setup();
    const { jobId, status } = await jobCutOff('before');
    expect(videosIn(status.id)).toHaveLength(0);
    await boot('k');
    await eventually(async () => (await store.get(jobId))?.state === 'delivered', 5000, 'delivered at start-up');
    expect(videosIn(status.id)).toHaveLength(1);
    expect(videosIn(status.id)[0]!.content).toMatch(new RegExp(`· job ${jobId}$`));
    await eventually(() => status.content.includes('Done'), 5000, 'the final status');
  });

  it('a post sent again within the nonce window makes no second message (nonce with enforce_nonce)', async () => {
    await setup();
    const bot = await boot('j');
    const id = await fake.slashCommand('video', [prompt('twice')]);
    const reply = await eventually(() => fake.originalOf(id)?.content || undefined, 10_000, 'the interaction reply');
    const jobId = reply.match(/Started job (\S+?)\./)![1]!;
    await eventually(() => bot.runner.submitted.length === 1, 5000, 'runner submit');
    await bot.runner.complete(jobId);
    const job = (await store.get(jobId))!;
    expect(job.state).toBe('delivered');
    const video = {
      fileName: `videobot-${jobId}.mp4`,
      sizeBytes: 12,
      read: async () => (await objects.getOutput(jobId, 'video.mp4'))!,
      readPoster: async () => undefined,
      link: async () => undefined,
      confirm: async () => true,
    };
    await bot.adapter.surface.postVideo(job, video);
    const posts = fake.calls.filter((c) => c.method === 'POST' && c.path === `/channels/${job.conversation.statusMessageId}/messages`);
    expect(posts).toHaveLength(2);
    expect(posts.map((p) => [p.body.enforce_nonce, p.body.nonce])).toEqual([
      [true, posts[0]!.body.nonce],
      [true, posts[0]!.body.nonce],
    ]);
    expect(String(posts[0]!.body.nonce).length).toBeLessThanOrEqual(25);
    expect(videosIn(job.conversation.statusMessageId!)).toHaveLength(1);
  });
});
