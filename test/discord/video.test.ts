import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { TOKEN } from './fake-discord.js';
import { buttonIds, postedIn, prompt, startWorld, startedJob, type DiscordWorld } from './setup.js';

// A 2×1 PNG, byte for byte.
const PNG = Uint8Array.from(
  Buffer.from('89504e470d0a1a0a0000000d4948445200000002000000010806000000f478d4fa0000000d49444154789c63f8cfc0f01f0005000201a3e6e1a90000000049454e44ae426082', 'hex'),
);

describe('Discord /video', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  it('connects with IDENTIFY over plain JSON, defers at once, and delivers the MP4 into a thread on the status message', async () => {
    w = await startWorld();
    expect(w.fake.identify).toMatchObject({ token: TOKEN, intents: 1 });

    const id = await w.fake.slashCommand('video', [prompt('a bee on a sunflower'), { name: 'seed', type: 4, value: 42 }]);
    const { jobId, status } = await startedJob(w, id);
    expect(w.fake.callbackOf(id)).toMatchObject({ type: 5, data: { flags: 64 } });

    // The status message is a channel message sent with the bot token, and is edited in place.
    const post = w.fake.calls.find((c) => c.method === 'POST' && c.path === `/channels/${w.fake.channelId}/messages`)!;
    expect(post.auth).toBe(`Bot ${TOKEN}`);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.progress(jobId, 2, 4);
    await eventually(() => status.content.includes('step 2/4') && status.content.includes('██████████░░░░░░░░░░'), 5000, 'progress edit');
    expect(buttonIds(status)).toContain(`vb:cancel:${jobId}`);
    expect(status.content).toContain('a bee on a sunflower');

    await w.h.runner.complete(jobId);
    const thread = w.fake.threads.get(status.id);
    expect(thread?.parent_id).toBe(w.fake.channelId);
    const [videoPost] = postedIn(w.fake, status.id);
    expect(videoPost?.files).toHaveLength(1);
    expect(videoPost!.files[0]!.name).toBe(`videobot-${jobId}.mp4`);
    expect(videoPost!.files[0]!.contentType).toBe('video/mp4');
    expect(Buffer.from(videoPost!.files[0]!.bytes).equals(Buffer.from(w.h.runner.video))).toBe(true);
    expect(videoPost!.content).toContain('seed 42');

    await eventually(() => status.content.includes('Done'), 5000, 'final status');
    expect(buttonIds(status)).toEqual([`vb:regen:${jobId}`, `vb:edit:${jobId}`, `vb:extend:${jobId}`, `vb:details:${jobId}`]);
    expect((await w.h.service.get(jobId))?.state).toBe('delivered');
    // Nothing after the first reply went through the interaction webhook.
    const webhookCalls = w.fake.calls.filter((c) => c.path.startsWith('/webhooks/'));
    expect(webhookCalls).toHaveLength(1);
  });

  it('animates an attached image: downloads it at once and makes an image-to-video job', async () => {
    w = await startWorld();
    const attachment = w.fake.hostAttachment('cat.png', PNG, 'image/png');
    const id = await w.fake.slashCommand('video', [prompt('the cat blinks'), { name: 'image', type: 11, value: attachment.id }], { attachments: [attachment] });
    const { jobId, status } = await startedJob(w, id);
    const job = await w.h.service.get(jobId);
    expect(job?.params.mode).toBe('i2v');
    expect(Buffer.from((await w.h.objects.getInput(jobId, 'image.png'))!).equals(Buffer.from(PNG))).toBe(true);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.complete(jobId);
    const [videoPost] = postedIn(w.fake, status.id);
    expect(videoPost?.files[0]?.name).toBe(`videobot-${jobId}.mp4`);
  });

  it('answers a file that is not an image with an ephemeral error and starts nothing', async () => {
    w = await startWorld();
    const attachment = w.fake.hostAttachment('notes.png', new TextEncoder().encode('just some text, not a picture'), 'image/png');
    const id = await w.fake.slashCommand('video', [prompt('x'), { name: 'image', type: 11, value: attachment.id }], { attachments: [attachment] });
    const reply = await eventually(() => w.fake.originalOf(id)?.content || undefined, 5000, 'reply');
    expect(reply).toBe('The attachment "notes.png" is not a PNG, JPEG or WebP image.');
    expect(w.fake.originalOf(id)!.flags & 64).toBe(64);
    expect(w.fake.channelMessages(w.fake.channelId)).toHaveLength(0);
    expect(await w.h.store.listByState(['queued', 'submitting', 'starting'])).toHaveLength(0);
  });

  it('starts one job for an interaction delivered twice', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('only once')]);
    const { jobId } = await startedJob(w, id);
    w.fake.redispatch(id);
    await eventually(() => w.fake.calls.filter((c) => c.path.startsWith(`/interactions/${id}/`)).length === 2, 5000, 'second callback');
    const second = w.fake.calls.filter((c) => c.path.startsWith(`/interactions/${id}/`))[1]!;
    expect(second.status).toBe(400); // 40060: already acknowledged
    await new Promise((r) => setTimeout(r, 200));
    expect(w.fake.calls.filter((c) => c.path.startsWith(`/interactions/${id}/`))).toHaveLength(2);
    expect(w.fake.channelMessages(w.fake.channelId)).toHaveLength(1);
    expect((await w.h.store.listByUser('discord', '100000000000000001', 10)).map((j) => j.id)).toEqual([jobId]);
  });

  it('answers an invalid request ephemerally and posts nothing in the channel', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('x'), { name: 'frames', type: 4, value: 10 }]);
    const reply = await eventually(() => w.fake.originalOf(id)?.content || undefined, 5000, 'reply');
    expect(reply).toMatch(/needs 8N\+1 frames/);
    expect(w.fake.calls.filter((c) => c.path === `/channels/${w.fake.channelId}/messages`)).toHaveLength(0);
  });
});
