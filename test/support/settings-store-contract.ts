// The SettingsStore port (blocked terms, bans, quota resets, refusal counts) and the history query
// (JobStore.listDeliveredByUser), as one suite every backend runs. `open` may hand back stores over shared storage
// (one DynamoDB table for the whole file): every test uses its own terms and user ids, and counts by difference.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { JobStore, SettingsStore } from '../../bot/core/ports.js';
import { sampleJob } from './fixtures.js';
import type { ManualClock } from './harness.js';

export interface OpenedSettingsStore {
  readonly store: JobStore & SettingsStore;
  readonly clock: ManualClock;
  close(): Promise<void>;
}

let runs = 0;

export function describeSettingsStoreContract(name: string, open: () => Promise<OpenedSettingsStore>): void {
  describe(`${name}: SettingsStore contract`, () => {
    const run = `s${++runs}${Math.random().toString(36).slice(2, 7)}`;
    let seq = 0;
    let opened: OpenedSettingsStore | undefined;
    let store: JobStore & SettingsStore;
    let clock: ManualClock;
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

    const owner = (n = 1) => ({ platform: 'slack' as const, userId: `${tag}-U${n}` });
    const mine = (terms: string[]) => terms.filter((t) => t.startsWith(tag));

    it('adds, lists (sorted) and removes blocked terms; adding twice or removing a missing term says so', async () => {
      expect(await store.addBlockedTerm(`${tag} zebra`)).toBe(true);
      expect(await store.addBlockedTerm(`${tag} apple`)).toBe(true);
      expect(await store.addBlockedTerm(`${tag} apple`)).toBe(false);
      expect(mine(await store.blockedTerms())).toEqual([`${tag} apple`, `${tag} zebra`]);
      expect(await store.removeBlockedTerm(`${tag} apple`)).toBe(true);
      expect(await store.removeBlockedTerm(`${tag} apple`)).toBe(false);
      expect(mine(await store.blockedTerms())).toEqual([`${tag} zebra`]);
    });

    it('a person nobody set anything for is in good standing', async () => {
      expect(await store.standing(owner())).toEqual({ banned: false, refusals: 0 });
    });

    it('bans and unbans one person on one platform, keeping their quota reset', async () => {
      await store.resetQuota(owner(), 1234);
      await store.setBanned(owner(), true);
      expect(await store.standing(owner())).toEqual({ banned: true, refusals: 0, quotaResetAt: 1234 });
      expect((await store.standing(owner(2))).banned).toBe(false);
      expect((await store.standing({ platform: 'discord', userId: owner().userId })).banned).toBe(false);
      await store.setBanned(owner(), false);
      expect(await store.standing(owner())).toEqual({ banned: false, refusals: 0, quotaResetAt: 1234 });
      await store.resetQuota(owner(), 5678);
      expect((await store.standing(owner())).quotaResetAt).toBe(5678);
    });

    it('counts refusals per person and in total', async () => {
      const before = await store.refusalCount();
      await store.recordRefusal(owner());
      await store.recordRefusal(owner());
      await store.recordRefusal(undefined);
      expect((await store.standing(owner())).refusals).toBe(2);
      expect((await store.standing(owner(2))).refusals).toBe(0);
      expect((await store.refusalCount()) - before).toBe(3);
    });

    it('lists a person\'s delivered jobs, newest first, up to the limit; other states and people are left out', async () => {
      const at = (id: string, minutes: number, over: Partial<Job>) =>
        sampleJob(`${tag}-${id}`, {
          requester: { platform: 'slack', userId: owner().userId },
          createdAt: clock.now() + minutes * 60_000,
          updatedAt: clock.now() + minutes * 60_000,
          ...over,
        });
      const delivered = { state: 'delivered' as const, finishedAt: clock.now() };
      for (const job of [
        at('a', 0, delivered),
        at('b', 1, { state: 'failed', finishedAt: clock.now() }),
        at('c', 2, delivered),
        at('d', 3, {}),
        at('e', 4, delivered),
        at('x', 5, { ...delivered, requester: { platform: 'slack', userId: owner(2).userId } }),
        at('y', 6, { ...delivered, requester: { platform: 'discord', userId: owner().userId } }),
      ]) {
        await store.create(job);
      }
      const ids = (jobs: Job[]) => jobs.map((j) => j.id);
      expect(ids(await store.listDeliveredByUser('slack', owner().userId, 10))).toEqual([`${tag}-e`, `${tag}-c`, `${tag}-a`]);
      expect(ids(await store.listDeliveredByUser('slack', owner().userId, 2))).toEqual([`${tag}-e`, `${tag}-c`]);
      expect(ids(await store.listDeliveredByUser('discord', owner().userId, 10))).toEqual([`${tag}-y`]);
      expect(await store.listDeliveredByUser('slack', owner(3).userId, 10)).toEqual([]);
    });
  });
}
