import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFfmpegShrinker } from '../../bot/chat/discord.js';
import { eventually } from '../support/harness.js';
import { TOKEN, TOKEN_LIFETIME_MS } from './fake-discord.js';
import { postedIn, prompt, startWorld, startedJob, type DiscordWorld } from './setup.js';

const PYTHON = '.venv/bin/python';

function ffmpegPath(): string | undefined {
  if (!existsSync(PYTHON)) return undefined;
  try {
    return execFileSync(PYTHON, ['-c', 'import imageio_ffmpeg;print(imageio_ffmpeg.get_ffmpeg_exe())'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('Discord delivery', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  it('delivers a job that outlives the 15-minute interaction token, through bot-token channel messages only', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('a slow sunrise')]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    w.fake.advance(TOKEN_LIFETIME_MS + 60_000);
    // The fake really does refuse the old token now.
    const token = w.fake.interactions.get(id)!.token;
    const stale = await fetch(`${w.fake.apiUrl}/v10/webhooks/${w.fake.applicationId}/${token}/messages/@original`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'late' }),
    });
    expect(stale.status).toBe(401);
    expect(await stale.json()).toEqual({ message: 'Invalid Webhook Token', code: 50027 });
    const mark = w.fake.calls.length;

    await w.h.runner.progress(jobId, 3, 4);
    await eventually(() => status.content.includes('step 3/4'), 5000, 'progress after 15 minutes');
    await w.h.runner.complete(jobId);
    const [videoPost] = postedIn(w.fake, status.id);
    expect(videoPost?.files[0]?.name).toBe(`videobot-${jobId}.mp4`);
    await eventually(() => status.content.includes('Done'), 5000, 'final status');
    const later = w.fake.calls.slice(mark).filter((c) => !c.path.endsWith('/messages/@original') || c.auth);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((c) => c.auth === `Bot ${TOKEN}` && c.status < 400)).toBe(true);
    expect((await w.h.service.get(jobId))?.state).toBe('delivered');
  });

  it('says the video is saved on the bot’s machine, never its path, when it is over the attachment limit and the backend has no links', async () => {
    w = await startWorld();
    w.h.runner.video = new Uint8Array(4096).fill(7);
    const id = await w.fake.slashCommand('video', [prompt('big')], { attachmentSizeLimit: 1024 });
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.complete(jobId);
    const [post] = postedIn(w.fake, status.id);
    expect(post?.content).toContain('It is 4 KiB, over the 1 KiB attachment limit here');
    expect(post?.content).toContain("and this bot has no download links, so it is saved on the bot's machine");
    // No host path in a public message (issue 13 item 8): the local backend's "link" is a file:// URL.
    expect(post?.content).not.toContain('file:');
    expect(post?.content).not.toContain(w.h.dir);
    expect(post?.content).not.toContain(`/jobs/${jobId}/`);
    expect(post?.files.map((f) => f.name)).toEqual(['poster.jpg']);
    expect((await w.h.service.get(jobId))?.state).toBe('delivered');
  });

  it('falls back to the channel, replying to the status message, where threads are not allowed', async () => {
    w = await startWorld();
    w.fake.noThreadChannels.add(w.fake.channelId);
    const id = await w.fake.slashCommand('video', [prompt('no threads here')]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.complete(jobId);
    expect(w.fake.threads.size).toBe(0);
    const videoPost = postedIn(w.fake, w.fake.channelId).find((m) => m.files.length > 0);
    expect(videoPost?.message_reference).toMatchObject({ message_id: status.id });
    expect(videoPost?.files[0]?.name).toBe(`videobot-${jobId}.mp4`);
  });

  it('a 429 on a status edit does not hold up posting the video', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('rate limited')]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await eventually(() => status.content.includes('Starting'), 5000, 'starting status');
    w.fake.rateLimit('PATCH', new RegExp(`^/channels/${w.fake.channelId}/messages/${status.id}$`), 2);
    await w.h.runner.progress(jobId, 1, 4);
    await eventually(() => w.fake.calls.some((c) => c.status === 429), 5000, 'the 429');
    const limited = w.fake.calls.find((c) => c.status === 429)!;
    await w.h.runner.complete(jobId);
    const videoCall = w.fake.calls.find((c) => c.method === 'POST' && c.path === `/channels/${status.id}/messages`)!;
    expect(videoCall.status).toBe(200);
    expect(videoCall.answeredAt - limited.answeredAt).toBeLessThan(1500);
    // The edit is still waiting out its retry_after while the video is already up.
    const retried = w.fake.calls.find((c) => c.method === 'PATCH' && c.path.endsWith(status.id) && c.seq > limited.seq)!;
    expect(retried.receivedAt - limited.answeredAt).toBeGreaterThanOrEqual(1900);
    expect(videoCall.answeredAt).toBeLessThan(retried.receivedAt);
    await eventually(() => status.content.includes('Done'), 8000, 'final status after the retry');
  });
});

describe('Discord delivery with ffmpeg re-encoding', () => {
  const ffmpeg = ffmpegPath();
  let w: DiscordWorld;
  let dir: string;
  let big: Uint8Array;
  afterEach(async () => w?.close());
  beforeAll(() => {
    if (!ffmpeg) return;
    dir = mkdtempSync(join(tmpdir(), 'videobot-shrink-test-'));
    // Nine frames of a test pattern, lossless: far over the limit below.
    execFileSync(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=8', '-frames:v', '9', '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv420p', join(dir, 'big.mp4')]);
    big = readFileSync(join(dir, 'big.mp4'));
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!ffmpeg)('re-encodes an oversize video to fit and says it did', async () => {
    const limit = 40 * 1024;
    expect(big.length).toBeGreaterThan(limit);
    w = await startWorld({ shrinker: createFfmpegShrinker({ ffmpegPath: ffmpeg! }) });
    w.h.runner.video = big;
    const id = await w.fake.slashCommand('video', [prompt('noise')], { attachmentSizeLimit: limit });
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.complete(jobId);
    const [post] = postedIn(w.fake, status.id);
    expect(post?.content).toContain('attachment limit here, so this is a smaller re-encode');
    const file = post!.files[0]!;
    expect(file.name).toBe(`videobot-${jobId}.mp4`);
    expect(file.bytes.length).toBeLessThanOrEqual(limit);
    expect(file.bytes.length).toBeGreaterThan(1000);
    expect(Buffer.from(file.bytes.subarray(4, 8)).toString('latin1')).toBe('ftyp');
  });
});
