// LocalRunner: a cancel, or the child's end, at the moment a job starts. Real child processes (small shell scripts
// standing in for `python -m processing run`), with the first step held open so each race is hit every time.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { RunnerEvent } from '../../bot/core/ports.js';
import { LocalRunner } from '../../bot/local/runner.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually, testLogger } from '../support/harness.js';
import { processAlive } from '../../bot/local/processes.js';

/** Stands in for python: notes its pid in `<job dir>/spawned`, then runs `body`. */
function fakePython(dir: string, body: string): string {
  const path = join(dir, `python-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(
    path,
    `#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --output-dir ] && out="$2"; shift; done\necho $$ > "$out/../spawned"\n${body}\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe('LocalRunner at the moment a job starts', () => {
  let dir: string;
  let runner: LocalRunner | undefined;
  const events: RunnerEvent[] = [];
  const jobDir = (id: string) => join(dir, 'jobs', id);
  const spawnedPid = (id: string): number | undefined => {
    const file = join(jobDir(id), 'spawned');
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'videobot-runner-race-'));
    events.length = 0;
  });
  afterEach(async () => {
    await runner?.stop();
    runner = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function startRunner(python: string): Promise<LocalRunner> {
    runner = new LocalRunner({
      python,
      cwd: dir,
      inputDir: (id) => join(jobDir(id), 'input'),
      outputDir: (id) => join(jobDir(id), 'output'),
      modelsDir: join(dir, 'models'),
      allowDownload: false,
      device: 'cpu',
      concurrency: 1,
      timeoutMs: 60_000,
      pollMs: 20,
      logger: testLogger(),
      env: { PATH: process.env.PATH },
    });
    await runner.start(async (e) => void events.push(e));
    return runner;
  }

  const job = (id: string): Job => sampleJob(id, { state: 'starting', attempts: 1, runnerRef: `local:${id}` });
  const kinds = (id: string) => events.filter((e) => e.jobId === id).map((e) => e.kind);

  it('never spawns a job cancelled before its process exists, and frees the slot', async () => {
    const r = await startRunner(fakePython(dir, 'exec sleep 30'));
    // submit() runs the launch up to its first await (clearing the output folder): the process does not exist yet.
    const submitted = r.submit(job('a'));
    await r.cancel(job('a'));
    await submitted;
    await eventually(() => kinds('a').includes('stopped'), 5000, 'a stopped');
    await r.submit(job('b'));
    const b = await eventually(() => spawnedPid('b'), 5000, 'b runs in the freed slot');
    expect(spawnedPid('a')).toBeUndefined();
    expect(kinds('a')).toEqual(['stopped']);
    await r.cancel(job('b'));
    await eventually(() => kinds('b').includes('stopped'), 5000, 'b stopped');
    await eventually(() => !processAlive(b), 7000, 'b\'s process gone');
  });

  it('frees the slot of a process that ended before the bot recorded its pid', async () => {
    const r = await startRunner(fakePython(dir, 'exit 3'));
    // Hold the launch's pid-file write open (a FIFO blocks the write until someone reads it) while the child ends.
    mkdirSync(jobDir('a'), { recursive: true });
    execFileSync('mkfifo', [join(jobDir('a'), 'runner.json')]);
    await r.submit(job('a'));
    const pid = await eventually(() => spawnedPid('a'), 5000, 'a spawned');
    await eventually(() => !processAlive(pid), 5000, 'a exited and was reaped');
    await new Promise((res) => setTimeout(res, 300)); // its streams close: 'close' has been emitted by now
    await readFile(join(jobDir('a'), 'runner.json')); // release the write
    await eventually(() => kinds('a').includes('failed'), 5000, 'a settled');
    expect(events.find((e) => e.jobId === 'a' && e.kind === 'failed')).toMatchObject({
      failure: { code: 'INTERNAL_ERROR', message: 'The processing job ended unexpectedly (exit 3).' },
    });
    await r.submit(job('b'));
    await eventually(() => kinds('b').includes('failed'), 5000, 'b ran in the freed slot');
  });

  it('reports a Python that cannot be started as a failed job instead of crashing the bot', async () => {
    const r = await startRunner(join(dir, 'no-such-python'));
    await r.submit(job('a'));
    await eventually(() => kinds('a').includes('failed'), 5000, 'a failed');
    await r.submit(job('b'));
    await eventually(() => kinds('b').includes('failed'), 5000, 'the slot is free again');
  });
});
