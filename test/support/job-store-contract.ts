// The JobStore port's documented semantics (bot/core/ports.ts), as one suite every adapter runs.
// `open` may hand back a store over shared storage (one DynamoDB table for the whole file): every test uses
// its own job ids, request keys and user ids, and looks only at its own jobs in listings.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job, JobProgress, JobState } from '../../bot/core/job.js';
import { LIVE_STATES } from '../../bot/core/job.js';
import type { JobStore, SlotHold, SlotLimits } from '../../bot/core/ports.js';
import { sampleJob } from './fixtures.js';
import type { ManualClock } from './harness.js';

export interface OpenedJobStore {
  readonly store: JobStore;
  readonly clock: ManualClock;
  close(): Promise<void>;
}

/** Index reads (DynamoDB's GSI) are eventually consistent: a listing may lag a write a moment. */
async function eventuallyListed(list: () => Promise<readonly Job[]>, expected: readonly string[]): Promise<void> {
  let got: string[] = [];
  for (let i = 0; i < 50; i++) {
    got = (await list()).map((j) => j.id);
    if (JSON.stringify(got) === JSON.stringify(expected)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(got).toEqual(expected);
}

const progressAt = (step: number): JobProgress => ({ phase: 'denoising', step, total: 10, etaS: 10 - step, elapsedS: step });

let runs = 0;

export function describeJobStoreContract(name: string, open: () => Promise<OpenedJobStore>): void {
  describe(`${name}: JobStore contract`, () => {
    const run = `c${++runs}${Math.random().toString(36).slice(2, 7)}`;
    let seq = 0;
    let opened: OpenedJobStore | undefined;
    let store: JobStore;
    let clock: ManualClock;
    /** A prefix no other test (or earlier run on the same storage) uses. */
    let tag: string;

    beforeEach(async () => {
      opened = await open();
      ({ store, clock } = opened);
      tag = `${run}t${++seq}`;
    });
    afterEach(async () => {
      await opened?.close();
      opened = undefined;
    });

    const user = (n = 1) => `${tag}-U${n}`;
    /** A job of this test, created now by the clock, for user U1 on Slack unless overridden. */
    const newJob = (id: string, over: Partial<Job> = {}): Job =>
      sampleJob(`${tag}-${id}`, { requester: { platform: 'slack', userId: user() }, createdAt: clock.now(), updatedAt: clock.now(), ...over });
    const ids = (jobs: readonly Job[]) => jobs.map((j) => j.id);
    const mine = (jobs: readonly Job[]) => ids(jobs).filter((id) => id.startsWith(`${tag}-`));

    it('creates a job and reads it back unchanged; a missing id reads as undefined', async () => {
      const job = newJob('a', { conversation: { platform: 'slack', channelId: 'C1', threadId: '1.2' }, requestKey: `${tag}:k` });
      expect(await store.create(job)).toEqual({ created: true, job });
      expect(await store.get(job.id)).toEqual(job);
      expect(await store.get(`${tag}-missing`)).toBeUndefined();
    });

    it("lists a conversation's delivered jobs oldest first: its thread only, delivered only, up to the limit", async () => {
      const thread = { platform: 'slack' as const, channelId: `${tag}-C`, threadId: '1700000000.0001' };
      const made: Job[] = [];
      const at = async (over: Partial<Job>, id: string) => {
        await clock.advance(1000);
        return newJob(id, { createdAt: clock.now(), updatedAt: clock.now(), ...over });
      };
      // The first clip is delivered through a transition (the index entry must follow the state), the rest as created.
      const first = await at({ state: 'uploading', conversation: thread }, 'a');
      await store.create(first);
      made.push(first);
      for (const [id, over] of [
        ['other-thread', { state: 'delivered', conversation: { ...thread, threadId: '1700000000.0002' } }],
        ['no-thread', { state: 'delivered', conversation: { platform: 'slack', channelId: thread.channelId } }],
        ['b', { state: 'delivered', conversation: thread, requester: { platform: 'slack', userId: user(2) } }],
        ['failed', { state: 'failed', conversation: thread }],
        ['running', { state: 'running', conversation: thread }],
        ['c', { state: 'delivered', conversation: thread }],
      ] as const) {
        const job = await at(over as Partial<Job>, id);
        await store.create(job);
        made.push(job);
      }
      await eventuallyListed(() => store.listDeliveredInConversation(thread, 10), [`${tag}-b`, `${tag}-c`]);
      await store.transition(first.id, ['uploading'], 'delivered');
      await eventuallyListed(() => store.listDeliveredInConversation(thread, 10), [`${tag}-a`, `${tag}-b`, `${tag}-c`]);
      expect(ids(await store.listDeliveredInConversation(thread, 2))).toEqual([`${tag}-a`, `${tag}-b`]);
      expect(ids(await store.listDeliveredInConversation({ platform: 'slack', channelId: thread.channelId }, 10))).toEqual([`${tag}-no-thread`]);
      expect(ids(await store.listDeliveredInConversation({ ...thread, platform: 'discord' }, 10))).toEqual([]);
      expect((await store.listDeliveredInConversation(thread, 10))[0]).toEqual({ ...(await store.get(first.id)) });
    });

    it('keeps what an Extend or a Combine builds on (source, parentVideo, clips) through transitions', async () => {
      const base = newJob('p');
      const extension = newJob('e', {
        source: { kind: 'extend', parentId: base.id, extensions: 2 },
        params: { ...base.params, mode: 'i2v', parentVideo: 'parent.mp4' },
      });
      const combination = newJob('c', {
        source: { kind: 'combine', clipIds: [base.id, extension.id, base.id] },
        params: { ...base.params, clips: ['clip-0.mp4', 'clip-1.mp4', 'clip-2.mp4'] },
      });
      for (const job of [extension, combination]) {
        await store.create(job);
        expect(await store.get(job.id)).toEqual(job);
        const moved = await store.transition(job.id, ['queued'], 'submitting');
        expect(moved).toMatchObject({ source: job.source, params: job.params });
        expect(await store.get(job.id)).toMatchObject({ source: job.source, params: job.params });
      }
    });

    it('dedupes by requestKey: a second create returns the first job, and no second job exists', async () => {
      const first = newJob('a', { requestKey: `${tag}:trigger` });
      const second = newJob('b', { requestKey: `${tag}:trigger`, params: { ...first.params, prompt: 'a wasp' } });
      expect((await store.create(first)).created).toBe(true);
      expect(await store.create(second)).toEqual({ created: false, job: first });
      expect(await store.get(second.id)).toBeUndefined();
      expect(ids(await store.listByUser('slack', user(), 10))).toEqual([first.id]);
      // Jobs without a request key, or with another one, are not deduped.
      expect((await store.create(newJob('c'))).created).toBe(true);
      expect((await store.create(newJob('d'))).created).toBe(true);
      expect((await store.create(newJob('e', { requestKey: `${tag}:other` }))).created).toBe(true);
    });

    it('returns the existing job (not the one passed in) once the first has moved on', async () => {
      const first = newJob('a', { requestKey: `${tag}:k` });
      await store.create(first);
      const moved = await store.transition(first.id, ['queued'], 'submitting', { attempts: 1 });
      expect(await store.create(newJob('b', { requestKey: `${tag}:k` }))).toEqual({ created: false, job: moved });
    });

    it('transition compare-and-sets on the state: a wrong `from` changes nothing', async () => {
      const job = newJob('a');
      await store.create(job);
      clock.advance(5_000);
      expect(await store.transition(job.id, ['running', 'encoding'], 'uploading')).toBeUndefined();
      expect(await store.get(job.id)).toEqual(job);
      const moved = await store.transition(job.id, ['enhancing', 'queued'], 'submitting', { attempts: 1, runnerRef: 'r-1' });
      expect(moved).toEqual({ ...job, state: 'submitting', attempts: 1, runnerRef: 'r-1', version: job.version + 1, updatedAt: clock.now() });
      expect(await store.get(job.id)).toEqual(moved);
      // The old state no longer matches.
      expect(await store.transition(job.id, ['queued'], 'submitting')).toBeUndefined();
      expect(await store.get(job.id)).toEqual(moved);
    });

    it('transition compare-and-sets on expectVersion; each write bumps the version by one and stamps updatedAt', async () => {
      const job = newJob('a');
      await store.create(job);
      clock.advance(1_000);
      const v2 = await store.transition(job.id, ['queued'], 'submitting', {}, job.version);
      expect(v2).toMatchObject({ state: 'submitting', version: job.version + 1, updatedAt: clock.now() });
      clock.advance(1_000);
      expect(await store.transition(job.id, ['submitting'], 'starting', {}, job.version)).toBeUndefined();
      expect(await store.transition(job.id, ['submitting'], 'starting', {}, job.version + 2)).toBeUndefined();
      expect(await store.get(job.id)).toEqual(v2);
      const v3 = await store.transition(job.id, ['submitting'], 'starting', { runnerRef: 'r' }, job.version + 1);
      expect(v3).toMatchObject({ state: 'starting', runnerRef: 'r', version: job.version + 2, updatedAt: clock.now(), createdAt: job.createdAt });
      expect(await store.get(job.id)).toEqual(v3);
    });

    it('lets exactly one of 8 concurrent transitions from the same state win', async () => {
      const job = newJob('a', { state: 'starting', runnerRef: 'r' });
      await store.create(job);
      const targets: JobState[] = ['running', 'encoding', 'uploading', 'queued', 'failed', 'cancelled', 'running', 'encoding'];
      const results = await Promise.all(targets.map((to, i) => store.transition(job.id, ['starting'], to, { attempts: i + 1 })));
      const winners = results.filter((r): r is Job => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(await store.get(job.id)).toEqual(winners[0]);
      expect(winners[0]!.version).toBe(job.version + 1);
    });

    it('lets exactly one of 8 concurrent transitions guarded by the same version win', async () => {
      const job = newJob('a', { state: 'running' });
      await store.create(job);
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.transition(job.id, ['running', 'encoding'], i % 2 ? 'encoding' : 'running', { attempts: i + 1 }, job.version)),
      );
      const winners = results.filter((r): r is Job => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(await store.get(job.id)).toEqual(winners[0]);
    });

    it('transition on a missing id returns undefined and creates nothing', async () => {
      const id = `${tag}-missing`;
      expect(await store.transition(id, ['queued'], 'submitting')).toBeUndefined();
      expect(await store.transition(id, ['queued'], 'submitting', {}, 1)).toBeUndefined();
      expect(await store.get(id)).toBeUndefined();
    });

    it('saveProgress writes only while the job is in one of the given states', async () => {
      const job = newJob('a', { state: 'running' });
      await store.create(job);
      expect(await store.saveProgress(job.id, ['starting', 'running'], progressAt(3))).toBe(true);
      expect((await store.get(job.id))?.progress).toEqual(progressAt(3));
      expect(await store.saveProgress(job.id, ['encoding'], progressAt(4))).toBe(false);
      expect(await store.saveProgress(job.id, [], progressAt(4))).toBe(false);
      const after = await store.get(job.id);
      expect(after).toMatchObject({ state: 'running', progress: progressAt(3) });
      expect(await store.saveProgress(`${tag}-missing`, ['running'], progressAt(1))).toBe(false);
      expect(await store.get(`${tag}-missing`)).toBeUndefined();
      // A progress write does not make a later transition from the same state fail.
      const moved = await store.transition(job.id, ['running'], 'encoding');
      expect(moved).toMatchObject({ state: 'encoding', progress: progressAt(3), version: after!.version + 1 });
      expect(await store.saveProgress(job.id, ['running'], progressAt(9))).toBe(false);
      expect((await store.get(job.id))?.progress).toEqual(progressAt(3));
    });

    it('listByUser returns that platform and user\'s jobs, newest first, up to the limit', async () => {
      const t0 = clock.now();
      // Created out of order, in several states.
      const b = newJob('b', { createdAt: t0 + 2_000 });
      const a = newJob('a', { createdAt: t0 + 1_000 });
      const d = newJob('d', { createdAt: t0 + 4_000, state: 'running' });
      const c = newJob('c', { createdAt: t0 + 3_000 });
      for (const j of [b, a, d, c]) await store.create(j);
      await store.transition(c.id, ['queued'], 'cancelled', { finishedAt: t0 + 5_000 });
      // Same user id on another platform, another user on the same platform.
      await store.create(newJob('x', { createdAt: t0 + 9_000, requester: { platform: 'discord', userId: user() } }));
      await store.create(newJob('y', { createdAt: t0 + 9_000, requester: { platform: 'slack', userId: user(2) } }));

      expect(ids(await store.listByUser('slack', user(), 10))).toEqual([d.id, c.id, b.id, a.id]);
      expect(ids(await store.listByUser('slack', user(), 2))).toEqual([d.id, c.id]);
      expect(ids(await store.listByUser('slack', user(), 1))).toEqual([d.id]);
      expect((await store.listByUser('slack', user(), 10))[1]).toMatchObject({ id: c.id, state: 'cancelled' });
      expect(ids(await store.listByUser('discord', user(), 10))).toEqual([`${tag}-x`]);
      expect(ids(await store.listByUser('slack', user(2), 10))).toEqual([`${tag}-y`]);
      expect(await store.listByUser('slack', user(3), 10)).toEqual([]);
    });

    it('listByState returns jobs in any of the given states, and a job leaves the live list when it becomes final', async () => {
      const t0 = clock.now();
      const q = newJob('q', { createdAt: t0 + 1 });
      const r = newJob('r', { createdAt: t0 + 2, state: 'running' });
      const e = newJob('e', { createdAt: t0 + 3, state: 'encoding' });
      const u = newJob('u', { createdAt: t0 + 4, state: 'uploading' });
      for (const j of [q, r, e, u]) await store.create(j);

      expect(mine(await store.listByState(['queued', 'running'])).sort()).toEqual([q.id, r.id].sort());
      expect(mine(await store.listByState(['encoding']))).toEqual([e.id]);
      expect(mine(await store.listByState(LIVE_STATES)).sort()).toEqual([q.id, r.id, e.id, u.id].sort());
      expect(await store.listByState([])).toEqual([]);
      const live = await store.listByState(LIVE_STATES);
      expect(live.find((j) => j.id === r.id)).toEqual(r);

      clock.advance(1_000);
      const cancelled = await store.transition(q.id, ['queued'], 'cancelled', { finishedAt: clock.now() });
      await store.transition(r.id, ['running'], 'failed', { finishedAt: clock.now(), failure: { code: 'X', message: 'x', retryable: false } });
      await store.transition(u.id, ['uploading'], 'delivered', { finishedAt: clock.now() });
      await store.transition(e.id, ['encoding'], 'uploading');

      expect(mine(await store.listByState(LIVE_STATES))).toEqual([e.id]);
      expect(mine(await store.listByState(['queued', 'running']))).toEqual([]);
      expect(mine(await store.listByState(['uploading']))).toEqual([e.id]);
      expect(mine(await store.listByState(['cancelled']))).toEqual([q.id]);
      expect((await store.listByState(['cancelled'])).find((j) => j.id === q.id)).toEqual(cancelled);
      expect(mine(await store.listByState(['failed', 'delivered'])).sort()).toEqual([r.id, u.id].sort());
      expect(mine(await store.listByState(['queued', 'cancelled', 'uploading'])).sort()).toEqual([q.id, e.id].sort());
    });

    describe('slot holds (reserve, release, create with a hold)', () => {
      const owner = (n = 1) => ({ platform: 'slack' as const, userId: user(n) });
      const hold = (id: string, n = 1, ttlMs = 60_000): SlotHold => ({ id: `${tag}-${id}`, owner: owner(n), expiresAt: clock.now() + ttlMs });
      const within = (maxLive: number, dailyQuota = 0): SlotLimits => ({ maxLive, dailyQuota, deliveredSince: clock.now() - 86_400_000 });

      it('findByRequestKey finds the job created with that key, and nothing for an unknown key', async () => {
        const job = newJob('a', { requestKey: `${tag}:k` });
        await store.create(job);
        expect(await store.findByRequestKey(`${tag}:k`)).toEqual(job);
        expect(await store.findByRequestKey(`${tag}:other`)).toBeUndefined();
      });

      it('counts the owner\'s live jobs and holds against maxLive; other people, platforms and final jobs do not count', async () => {
        await store.create(newJob('run', { state: 'running' }));
        await store.create(newJob('done', { state: 'delivered', finishedAt: clock.now() }));
        await store.create(newJob('other', { requester: { platform: 'discord', userId: user() } }));
        await store.create(newJob('bob', { requester: owner(2) }));
        expect(await store.reserve(hold('h1'), within(3))).toEqual({ held: true });
        expect(await store.reserve(hold('h2'), within(3))).toEqual({ held: true });
        expect(await store.reserve(hold('h3'), within(3))).toEqual({ held: false, reason: 'live', inProgress: 3, delivered: 0 });
        expect(await store.reserve(hold('b1', 2), within(3))).toEqual({ held: true });
      });

      it('create consumes its hold: the job counts instead, and its slot frees when the job ends', async () => {
        const h1 = hold('h1');
        expect(await store.reserve(h1, within(1))).toEqual({ held: true });
        const job = newJob('a');
        expect(await store.create(job, h1)).toEqual({ created: true, job });
        expect(await store.reserve(hold('h2'), within(1))).toMatchObject({ held: false, reason: 'live', inProgress: 1 });
        await store.transition(job.id, ['queued'], 'cancelled', { finishedAt: clock.now() });
        expect(await store.reserve(hold('h3'), within(1))).toEqual({ held: true });
      });

      it('a create that finds the request key taken still consumes its hold', async () => {
        await store.create(newJob('a', { requestKey: `${tag}:k` }));
        const h1 = hold('h1');
        expect(await store.reserve(h1, within(2))).toEqual({ held: true });
        expect((await store.create(newJob('b', { requestKey: `${tag}:k` }), h1)).created).toBe(false);
        expect(await store.reserve(hold('h2'), within(2))).toEqual({ held: true });
      });

      it('release frees a hold, and an expired hold stops counting', async () => {
        const h1 = hold('h1');
        await store.reserve(h1, within(1));
        await store.release(h1);
        await store.release(h1); // twice is fine
        expect(await store.reserve(hold('h2', 1, 1_000), within(1))).toEqual({ held: true });
        expect(await store.reserve(hold('h3'), within(1))).toMatchObject({ held: false, reason: 'live' });
        clock.advance(1_001);
        expect(await store.reserve(hold('h4'), within(1))).toEqual({ held: true });
      });

      it('counts delivered jobs since deliveredSince plus jobs in progress against the daily quota', async () => {
        const t0 = clock.now();
        for (const id of ['d1', 'd2']) {
          await store.create(newJob(id, { state: 'uploading' }));
          await store.transition(`${tag}-${id}`, ['uploading'], 'delivered', { finishedAt: t0 - 1_000 });
        }
        await store.create(newJob('old', { state: 'delivered', finishedAt: t0 - 90_000_000 }));
        expect(await store.reserve(hold('h1'), within(10, 3))).toEqual({ held: true });
        expect(await store.reserve(hold('h2'), within(10, 3))).toEqual({ held: false, reason: 'quota', inProgress: 1, delivered: 2 });
        expect(await store.reserve(hold('h3'), { maxLive: 10, dailyQuota: 3, deliveredSince: t0 })).toEqual({ held: true });
      });

      it('lets exactly the free slots of 5 concurrent reserves of one owner through', async () => {
        await store.create(newJob('run', { state: 'running' }));
        const results = await Promise.all(Array.from({ length: 5 }, (_, i) => store.reserve(hold(`c${i}`), within(3))));
        expect(results.filter((r) => r.held)).toHaveLength(2);
        expect(results.filter((r) => !r.held).every((r) => !r.held && r.reason === 'live')).toBe(true);
        expect(await store.reserve(hold('after'), within(3))).toMatchObject({ held: false, inProgress: 3 });
      });
    });

    it('countDeliveredSince counts only that user\'s delivered jobs with finishedAt >= since', async () => {
      const t0 = clock.now();
      const finish = async (j: Job, to: JobState, finishedAt: number) => {
        await store.create(j);
        expect(await store.transition(j.id, [j.state], to, { finishedAt })).toMatchObject({ state: to, finishedAt });
      };
      await finish(newJob('a', { state: 'uploading' }), 'delivered', t0 + 1_000);
      await finish(newJob('b', { state: 'uploading' }), 'delivered', t0 + 2_000);
      await finish(newJob('c', { state: 'uploading' }), 'delivered', t0 + 3_000);
      await finish(newJob('f'), 'failed', t0 + 3_000);
      await finish(newJob('x', { state: 'running' }), 'cancelled', t0 + 3_000);
      await store.create(newJob('live', { state: 'uploading' }));
      await finish(newJob('o', { state: 'uploading', requester: { platform: 'slack', userId: user(2) } }), 'delivered', t0 + 3_000);
      await finish(newJob('p', { state: 'uploading', requester: { platform: 'discord', userId: user() } }), 'delivered', t0 + 3_000);

      expect(await store.countDeliveredSince('slack', user(), t0)).toBe(3);
      expect(await store.countDeliveredSince('slack', user(), t0 + 2_000)).toBe(2); // inclusive
      expect(await store.countDeliveredSince('slack', user(), t0 + 2_001)).toBe(1);
      expect(await store.countDeliveredSince('slack', user(), t0 + 3_001)).toBe(0);
      expect(await store.countDeliveredSince('slack', user(2), t0)).toBe(1);
      expect(await store.countDeliveredSince('discord', user(), t0)).toBe(1);
      expect(await store.countDeliveredSince('discord', user(2), t0)).toBe(0);
    });
  });
}
