// End to end: /video in Discord → the real LocalRunner running the real processing job (tiny-random, CPU) → MP4 in the thread.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { realLocalRunner } from '../support/local-runner.js';
import { eventually } from '../support/harness.js';
import { hasPython, probeVideo } from '../support/video.js';
import { postedIn, prompt, startWorld, startedJob, type DiscordWorld } from './setup.js';

describe.skipIf(!hasPython)('Discord adapter with the local runner and tiny-random (skipped without .venv/bin/python: run scripts/setup-python.sh)', () => {
  let w: DiscordWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('turns /video into an H.264 MP4 attached in the status message’s thread, with live progress on the way', async () => {
    w = await startWorld(
      {},
      {
        makeRunner: (objects) => realLocalRunner(objects),
      },
    );
    const { fake, h } = w;
    const id = await fake.slashCommand('video', [prompt('a tiny bee'), { name: 'model', type: 3, value: 'tiny-random' }, { name: 'steps', type: 4, value: 10 }, { name: 'seed', type: 4, value: 3 }]);
    const { jobId, status } = await startedJob(w, id);
    const videoPost = await eventually(() => postedIn(fake, status.id).find((m) => m.files.length > 0), 90_000, 'video in the thread');
    const done = await eventually(async () => {
      const j = await h.store.get(jobId);
      return j && j.state !== 'uploading' ? j : undefined;
    }, 5000, 'delivered');
    expect(done.state, JSON.stringify(done.failure)).toBe('delivered');
    expect(videoPost.content).toContain('seed 3');
    expect(videoPost.content).toContain('test model');
    const path = join(h.dir, 'posted.mp4');
    writeFileSync(path, videoPost.files[0]!.bytes);
    expect(probeVideo(path)).toMatchObject({ codec: 'h264', pix_fmt: 'yuv420p', frames: 9 });

    // One status message, edited through the job's states.
    const edits = fake.calls.filter((c) => c.method === 'PATCH' && c.path === `/channels/${fake.channelId}/messages/${status.id}`).map((c) => String(c.body.content));
    expect(edits.some((t) => /Generating — step \d+\/10/.test(t))).toBe(true);
    await eventually(() => status.content.includes('Done'), 5000, 'final status');
  }, 120_000);
});
