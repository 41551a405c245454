// Two processes on one data folder (the bot and `videobot generate`, or two commands): one SQLite file, one
// GPU queue. Each "process" here is its own JobService, store connection and runner on the same file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cancelAbandonedCommandJobs, commandSurface } from '../../bot/cli.js';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';
import type { JobScope } from '../../bot/core/scope.js';
import { createJobService, type JobService } from '../../bot/core/service.js';
import { systemClock } from '../../bot/local/system.js';
import { FsObjectStore } from '../../bot/local/files.js';
import { GPU_QUEUE_LEASE, createLocalQueueLease } from '../../bot/local/queue-lease.js';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { sampleJob } from '../support/fixtures.js';
import { ManualClock, ScriptedRunner, createHarness, eventually, sequentialIds, testLogger } from '../support/harness.js';

class RecordingShell implements ChatSurface {
  readonly platform = 'shell' as const;
  readonly posted: string[] = [];
  announce = async (job: Job) => job.conversation;
  retract = async () => {};
  async showStatus(_job: Job, _view: StatusView): Promise<void> {}
  async postVideo(job: Job, _video: VideoFile): Promise<void> {
    this.posted.push(job.id);
  }
}

interface Proc {
  readonly store: SqliteJobStore;
  readonly runner: ScriptedRunner;
  readonly service: JobService;
}

describe('one data folder, several processes', () => {
  let dir: string;
  const procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      await p.service.stop();
      p.store.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** A process on the shared folder: the bot (owns every job) or a command (owns the job of its request key). */
  async function proc(kind: 'bot' | 'command', chats: ChatSurface[], idPrefix: string, requestKey?: string): Promise<Proc> {
    const store = new SqliteJobStore(join(dir, 'videobot.db'), { now: () => Date.now() });
    const objects = new FsObjectStore(join(dir, 'objects'));
    const runner = new ScriptedRunner(objects);
    const scope: JobScope = {
      lease: createLocalQueueLease(store),
      queuePollMs: 20,
      ...(kind === 'command' ? { owns: (job: Job) => job.requestKey === requestKey } : {}),
    };
    const service = createJobService({
      store,
      objects,
      runner,
      chats,
      clock: systemClock,
      ids: sequentialIds(idPrefix),
      logger: testLogger(),
      defaultModel: 'tiny-random',
      limits: { statusIntervalMs: 0, retryBackoffMs: 0 },
      scope,
    });
    await service.start();
    const p = { store, runner, service };
    procs.push(p);
    return p;
  }

  const cliRequest = (requestKey: string) => ({
    requester: { platform: 'cli' as const, userId: 'me' },
    conversation: { platform: 'cli' as const, channelId: 'cli' },
    request: { prompt: 'a bee' },
    requestKey,
  });
  const stateOf = async (p: Proc, id: string) => (await p.store.get(id))?.state;

  it('the bot runs a command\'s job and finishes it for the command to read, instead of failing it for lack of a chat', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-shared-'));
    const bot = await proc('bot', [new RecordingShell(), commandSurface], 'b');
    const command = await proc('command', [commandSurface], 'c', 'k1');
    const { job } = await command.service.submit(cliRequest('k1'));
    await eventually(() => bot.runner.submitted.some((j) => j.id === job.id), 5000, 'the bot to start the command job');
    await bot.runner.complete(job.id);
    await eventually(async () => (await stateOf(command, job.id)) === 'delivered', 5000, 'delivered');
    expect((await command.store.get(job.id))?.failure).toBeUndefined();
    expect(command.runner.submitted).toHaveLength(0);
  });

  it('two commands take turns: each starts only its own job, the second once the first let go of the queue', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-shared-'));
    const first = await proc('command', [commandSurface], 'x', 'kx');
    const second = await proc('command', [commandSurface], 'y', 'ky');
    const a = (await first.service.submit(cliRequest('kx'))).job;
    const b = (await second.service.submit(cliRequest('ky'))).job;
    await eventually(() => first.runner.submitted.length === 1, 5000, 'the first job to start');
    await new Promise((r) => setTimeout(r, 200));
    expect(await stateOf(second, b.id)).toBe('queued');
    expect(second.runner.submitted).toHaveLength(0);
    await first.runner.complete(a.id);
    await eventually(async () => (await stateOf(first, a.id)) === 'delivered', 5000, 'first delivered');
    await first.service.stop();
    await eventually(() => second.runner.submitted.length === 1, 5000, 'the second job to start after the first command stopped');
    expect(first.runner.submitted.map((j) => j.id)).toEqual([a.id]);
    expect(second.runner.submitted.map((j) => j.id)).toEqual([b.id]);
  });

  it('a bot does not start jobs while another process holds the queue, and takes it over at once when that process is gone', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-shared-'));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const seed = new SqliteJobStore(join(dir, 'videobot.db'), { now: () => Date.now() });
    seed.takeLease(GPU_QUEUE_LEASE, `other-host:${process.pid}:alive`, 60_000);
    const shell = new RecordingShell();
    const bot = await proc('bot', [shell], 'b');
    const { job } = await bot.service.submit({ requester: { platform: 'shell', userId: 'me' }, conversation: { platform: 'shell', channelId: 'terminal' }, request: { prompt: 'a cat' } });
    await new Promise((r) => setTimeout(r, 200));
    expect(bot.runner.submitted).toHaveLength(0);
    expect(await stateOf(bot, job.id)).toBe('queued');
    // The holder on this machine exits without letting go (SIGKILL): its lease has not expired, but its pid is gone.
    seed.releaseLease(GPU_QUEUE_LEASE, `other-host:${process.pid}:alive`);
    seed.takeLease(GPU_QUEUE_LEASE, `${hostname()}:${deadPid}:killed`, 60_000);
    seed.close();
    await eventually(() => bot.runner.submitted.length === 1, 5000, 'the bot to take over and start the job');
  });
});

describe('the queue lease', () => {
  it('is held by one holder at a time, renewed by it, and taken over only once it expires', () => {
    const clock = new ManualClock();
    const store = new SqliteJobStore(':memory:', clock);
    expect(store.takeLease('q', 'a', 1000)).toBe(true);
    expect(store.takeLease('q', 'b', 1000)).toBe(false);
    clock.advance(900);
    expect(store.takeLease('q', 'a', 1000)).toBe(true); // renewed until 1900
    clock.advance(900);
    expect(store.takeLease('q', 'b', 1000)).toBe(false);
    clock.advance(101);
    expect(store.takeLease('q', 'b', 1000)).toBe(true);
    expect(store.leaseHolder('q')).toBe('b');
    store.releaseLease('q', 'a'); // not a's any more: nothing happens
    expect(store.leaseHolder('q')).toBe('b');
    store.releaseLease('q', 'b');
    expect(store.takeLease('q', 'a', 1000)).toBe(true);
    store.close();
  });
});

describe('jobs of commands that are gone', () => {
  it('are cancelled (and their processes stopped), so they neither hold the queue nor run for nobody', async () => {
    const h = await createHarness([commandSurface]);
    try {
      const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
      const cli = (pid: number, host = hostname()) => ({
        requester: { platform: 'cli' as const, userId: 'me' },
        conversation: { platform: 'cli' as const, channelId: 'cli', extra: { host, pid: String(pid) } },
      });
      await h.store.create(sampleJob('jkilled', { ...cli(deadPid), state: 'running', runnerRef: 'scripted:jkilled', attempts: 1 }));
      await h.store.create(sampleJob('jwaiting', { ...cli(deadPid), state: 'queued' }));
      await h.store.create(sampleJob('jalive', { ...cli(process.pid), state: 'running', runnerRef: 'scripted:jalive', attempts: 1 }));
      await h.store.create(sampleJob('jelsewhere', { ...cli(deadPid, 'another-host'), state: 'running', runnerRef: 'scripted:jelsewhere', attempts: 1 }));
      await h.store.create(sampleJob('jslack', { state: 'running', runnerRef: 'scripted:jslack', attempts: 1 }));

      expect((await cancelAbandonedCommandJobs(h.store, h.service)).sort()).toEqual(['jkilled', 'jwaiting']);
      expect(h.runner.cancelled).toEqual(['jkilled']);
      for (const [id, state] of [['jkilled', 'cancelled'], ['jwaiting', 'cancelled'], ['jalive', 'running'], ['jelsewhere', 'running'], ['jslack', 'running']]) {
        expect((await h.store.get(id!))?.state, id).toBe(state);
      }
    } finally {
      await h.close();
    }
  });
});
