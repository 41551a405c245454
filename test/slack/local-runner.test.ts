// End to end: /video in Slack → the real LocalRunner running the real processing job (tiny-random, CPU) → MP4 in the thread.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { realLocalRunner } from '../support/local-runner.js';
import { eventually } from '../support/harness.js';
import { hasPython, probeVideo } from '../support/video.js';
import { slashCommand } from './payloads.js';
import { ALICE, startWorld, statusMessageOf, type SlackWorld } from './setup.js';

describe.skipIf(!hasPython)('Slack adapter with the local runner and tiny-random (skipped without .venv/bin/python: run scripts/setup-python.sh)', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('turns /video into an H.264 MP4 uploaded into the status message’s thread, with live progress on the way', async () => {
    w = await startWorld({
      makeRunner: (objects) => realLocalRunner(objects),
    });
    const { fake, h, slack } = w;
    await slack.form(slashCommand('/video', 'a tiny bee --model tiny-random --frames 9 --steps 10 --seed 3', ALICE, fake.responseUrl()));
    const job = await eventually(async () => (await h.store.listByState(['starting', 'running', 'encoding', 'uploading', 'delivered', 'failed']))[0], 10_000, 'job');
    const upload = await eventually(() => [...fake.uploads.values()].find((u) => u.completed), 90_000, 'upload');
    const done = await eventually(async () => {
      const j = await h.store.get(job.id);
      return j && (j.state === 'delivered' || j.state === 'failed') ? j : undefined;
    }, 10_000, 'delivered');
    expect(done.state, JSON.stringify(done.failure)).toBe('delivered');

    const status = statusMessageOf(w, job);
    expect(upload.completed).toMatchObject({ channel_id: ALICE.channel, thread_ts: status.ts });
    expect(upload.completed!.initial_comment).toContain('seed 3');
    expect(upload.completed!.initial_comment).toContain('test model');
    const path = join(h.dir, 'uploaded.mp4');
    writeFileSync(path, upload.bytes!);
    expect(probeVideo(path)).toMatchObject({ codec: 'h264', pix_fmt: 'yuv420p', frames: 9 });

    // The status message went through the job's states by editing the one message.
    await eventually(() => statusMessageOf(w!, job).text === 'Done', 5000, 'final edit');
    const edits = fake.callsTo('chat.update').filter((c) => c.args.ts === status.ts).map((c) => String(c.args.text));
    expect(edits.some((t) => /^Generating — step \d+\/10/.test(t))).toBe(true);
    expect(edits.at(-1)).toBe('Done');
  }, 120_000);
});
