// A Cancel clicked in Discord while the job is being started: the real adapter (discord.js) against the loopback
// Discord, the real LocalRunner with a real child process (a shell script standing in for the processing job), and
// the runner's submit held open until the click has been handled, so the race is hit every time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import { eventually } from '../support/harness.js';
import { HeldRunner, scriptRunner } from '../support/held-runner.js';
import { ALICE, BOB } from './fake-discord.js';
import { buttonIds, prompt, replyText, startWorld, type DiscordWorld } from './setup.js';

describe('Discord: Cancel at the moment a job starts', () => {
  let w: DiscordWorld | undefined;
  let dir: string;
  afterEach(async () => {
    await w?.close();
    w = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends with the job cancelled, no process left, the slot free and nothing posted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'videobot-cancel-start-'));
    let runner!: HeldRunner;
    let spawned!: (job: Job) => number | undefined;
    w = await startWorld(
      {},
      {
        makeRunner: (objects) => {
          const made = scriptRunner(objects, dir);
          spawned = made.spawned;
          return (runner = new HeldRunner(made.runner));
        },
        limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxConcurrentJobs: 1 },
      },
    );
    const { fake, h } = w;

    await fake.slashCommand('video', [prompt('a bee')], { user: ALICE });
    const job = await eventually(() => runner.submitting, 5000, 'the runner starting the job');
    const status = fake.messages.get((await h.store.get(job.id))!.conversation.statusMessageId!)!;
    await eventually(() => buttonIds(status).includes(`vb:cancel:${job.id}`), 5000, 'cancel button');
    const click = await fake.clickButton(status, `vb:cancel:${job.id}`, { user: ALICE });
    expect(await replyText(w, click)).toBe(`Cancelled job ${job.id}.`);
    runner.open(); // the runner answers only now, after the cancel

    await fake.slashCommand('video', [prompt('a cat')], { user: BOB });
    const next = await eventually(async () => (await h.store.listByState(['starting', 'running']))[0], 10_000, 'the next job starting');
    await eventually(() => spawned(next), 10_000, 'the next job\'s process');

    expect(spawned(job)).toBeUndefined(); // the cancelled job never ran
    expect((await h.store.get(job.id))?.state).toBe('cancelled');
    await eventually(() => status.content.includes('Cancelled'), 5000, 'Cancelled shown');
    expect([...fake.messages.values()].filter((m) => m.files.length > 0 || m.attachments.length > 0)).toEqual([]);
  }, 30_000);
});
