// A Cancel clicked in Slack while the job is being started: the real Slack adapter against the loopback Slack, the
// real LocalRunner with a real child process (a shell script standing in for the processing job), and the runner's
// submit held open until the click has been handled, so the race is hit every time.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION } from '../../bot/chat/slack/blocks.js';
import type { Job } from '../../bot/core/job.js';
import type { Runner, RunnerEvent, RunnerStatus } from '../../bot/core/ports.js';
import type { FsObjectStore } from '../../bot/local/files.js';
import { LocalRunner } from '../../bot/local/runner.js';
import { eventually, testLogger } from '../support/harness.js';
import { blockAction, slashCommand } from './payloads.js';
import { ALICE, BOB, startWorld, statusMessageOf, type SlackWorld } from './setup.js';

/** The real LocalRunner; submit() waits for `release` the first time, as a slow CreateProcessingJob would. */
class HeldRunner implements Runner {
  private release!: () => void;
  private readonly held = new Promise<void>((r) => (this.release = r));
  private first = true;
  submitting: Job | undefined;
  constructor(readonly real: LocalRunner) {}
  open(): void {
    this.release();
  }
  async submit(job: Job): Promise<{ ref: string }> {
    if (this.first) {
      this.first = false;
      this.submitting = job;
      await this.held;
    }
    return this.real.submit(job);
  }
  cancel(job: Job): Promise<void> {
    return this.real.cancel(job);
  }
  describe(job: Job): Promise<RunnerStatus> {
    return this.real.describe(job);
  }
  start(onEvent: (e: RunnerEvent) => Promise<void>): Promise<void> {
    return this.real.start(onEvent);
  }
  stop(): Promise<void> {
    return this.real.stop();
  }
}

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
    const python = join(dir, 'python.sh');
    // Notes its pid beside the job's output folder, then works for a long time.
    writeFileSync(python, '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --output-dir ] && out="$2"; shift; done\necho $$ > "$out/../spawned"\nexec sleep 60\n');
    chmodSync(python, 0o755);
    let runner!: HeldRunner;
    let objects!: FsObjectStore;
    w = await startWorld({
      makeRunner: (o) => {
        objects = o;
        return (runner = new HeldRunner(
          new LocalRunner({
            python,
            cwd: dir,
            inputDir: (id) => o.inputDir(id),
            outputDir: (id) => o.outputDir(id),
            modelsDir: join(dir, 'models'),
            allowDownload: false,
            device: 'cpu',
            concurrency: 1,
            timeoutMs: 120_000,
            pollMs: 20,
            logger: testLogger(),
            env: { PATH: process.env.PATH },
          }),
        ));
      },
      service: { limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxConcurrentJobs: 1 } },
    });
    const { fake, h, slack } = w;
    const spawned = (job: Job) => {
      const file = join(objects.outputDir(job.id), '..', 'spawned');
      return existsSync(file) ? Number(readFileSync(file, 'utf8')) : undefined;
    };

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
