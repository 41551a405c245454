// Fail before the GPU, not after it: a request in a channel where the bot cannot post files is refused at submit
// (the interaction's app_permissions), and a video Discord refuses for its size (413, error 40005) is posted as a
// re-encode or a link instead of failing the job.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { postedIn, prompt, replyText, startWorld, startedJob, type DiscordWorld } from './setup.js';

const ALL = 2248473465835073n;
const without = (...bits: bigint[]) => String(bits.reduce((p, b) => p & ~b, ALL));
const SEND_MESSAGES = 1n << 11n;
const ATTACH_FILES = 1n << 15n;

describe('Discord: checks at submit and the size fallback', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  it('refuses /video where the bot lacks Attach Files, in one private sentence, before anything is posted or run', async () => {
    w = await startWorld();
    const before = postedIn(w.fake, w.fake.channelId).length;
    const id = await w.fake.slashCommand('video', [prompt('a bee')], { appPermissions: without(ATTACH_FILES) });
    expect(await replyText(w, id)).toBe(
      "I can't post videos in this channel: I'm missing the Attach Files permission here. Ask a server admin to give videobot it in this channel's settings, or use me in another channel.",
    );
    expect(postedIn(w.fake, w.fake.channelId)).toHaveLength(before);
    expect(w.h.runner.submitted).toEqual([]);
    expect(await w.h.store.listByUser('discord', '100000000000000001', 5)).toEqual([]);
  });

  it('names every missing permission', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('a bee')], { appPermissions: without(SEND_MESSAGES, ATTACH_FILES) });
    expect(await replyText(w, id)).toContain("I'm missing the Send Messages and Attach Files permissions here. Ask a server admin to give videobot them");
  });

  it('posts the video another way when Discord refuses the file as too large (413, 40005), and the job is delivered', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('big after all')]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    // The limit the interaction reported is more than Discord takes for this post.
    w.fake.failNext('POST', /^\/channels\/\d+\/messages$/, 413, 40005, 'Request entity too large');
    await w.h.runner.complete(jobId);
    await eventually(async () => (await w.h.service.get(jobId))?.state === 'delivered', 5000, 'delivered');
    const posts = postedIn(w.fake, status.id);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.content).toContain("this bot has no download links, so it is saved on the bot's machine");
    expect(posts[0]!.files.map((f) => f.name)).toEqual(['poster.jpg']);
  });
});
