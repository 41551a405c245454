// A Cancel clicked in Slack while the job is being started: the real Slack adapter against the loopback Slack, the
// real LocalRunner with a real child process (a shell script standing in for the processing job), and the runner's
// submit held open until the click has been handled, so the race is hit every time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION } from '../../bot/chat/slack/blocks.js';
import type { Job } from '../../bot/core/job.js';
import { eventually } from '../support/harness.js';
import { HeldRunner, scriptRunner } from '../support/held-runner.js';
import { blockAction, slashCommand } from './payloads.js';
import { ALICE, BOB, startWorld, statusMessageOf, type SlackWorld } from './setup.js';

describe('Slack: Cancel at the moment a job starts', () => {
  let w: SlackWorld | undefined;
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
    w = await startWorld({
      makeRunner: (objects) => {
        const made = scriptRunner(objects, dir);
        spawned = made.spawned;
        return (runner = new HeldRunner(made.runner));
      },
      service: { limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxConcurrentJobs: 1 } },
    });
    const { fake, h, slack } = w;

    await slack.form(slashCommand('/video', 'a bee --model tiny-random', ALICE, fake.responseUrl()));
    const job = await eventually(() => runner.submitting, 5000, 'the runner starting the job');
    const status = statusMessageOf(w, job);
    expect(status.text).toBe('Starting…');
    await slack.interactive(blockAction(ACTION.cancel, job.id, ALICE, { ts: status.ts }, fake.responseUrl()));
    await eventually(async () => (await h.store.get(job.id))?.state === 'cancelled', 5000, 'cancelled');
    runner.open(); // the runner answers only now, after the cancel

    // The next person's job gets the slot and really starts.
    await slack.form(slashCommand('/video', 'a cat --model tiny-random', BOB, fake.responseUrl()));
    const next = await eventually(async () => (await h.store.listByState(['starting', 'running']))[0], 10_000, 'the next job starting');
    await eventually(() => spawned(next), 10_000, 'the next job\'s process');

    expect(spawned(job)).toBeUndefined(); // the cancelled job never ran
    expect((await h.store.get(job.id))?.state).toBe('cancelled');
    await eventually(() => statusMessageOf(w!, job).text === 'Cancelled', 5000, 'Cancelled shown');
    expect([...fake.uploads.values()]).toEqual([]);
  }, 30_000);
});
