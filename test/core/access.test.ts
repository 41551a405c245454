import { describe, expect, it } from 'vitest';
import { createAccessGuard, OPEN_POLICY } from '../../bot/core/access.js';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { sampleJob } from '../support/fixtures.js';
import { ManualClock } from '../support/harness.js';

const slackUser = (userId: string) => ({ platform: 'slack' as const, userId });
const channel = (channelId: string) => ({ platform: 'slack' as const, channelId });

function guard(policy: Partial<typeof OPEN_POLICY>) {
  const clock = new ManualClock();
  const store = new SqliteJobStore(':memory:', clock);
  return { clock, store, access: createAccessGuard({ ...OPEN_POLICY, ...policy }, store, clock) };
}

describe('access guard', () => {
  it('lets everyone in with empty allow-lists', () => {
    const { access } = guard({});
    expect(() => access.checkAccess(slackUser('U1'), channel('C1'))).not.toThrow();
  });

  it('checks users and channels, with or without the platform prefix, and lets admins through', () => {
    const { access } = guard({ allowedUsers: ['slack:U1', 'U2'], allowedChannels: ['C1'], admins: ['slack:UA'] });
    expect(() => access.checkAccess(slackUser('U1'), channel('C1'))).not.toThrow();
    expect(() => access.checkAccess(slackUser('U2'), channel('C1'))).not.toThrow();
    expect(() => access.checkAccess(slackUser('U3'), channel('C1'))).toThrow(/not on the list of people/);
    expect(() => access.checkAccess(slackUser('U1'), channel('C9'))).toThrow(/cannot be made in this channel/);
    expect(() => access.checkAccess(slackUser('UA'), channel('C9'))).not.toThrow();
    expect(access.isAdmin({ platform: 'discord', userId: 'UA' })).toBe(false);
  });

  const reserve = (access: ReturnType<typeof guard>['access'], userId: string, id: string) => access.reserveSlot(slackUser(userId), id);

  it('limits live jobs and held slots per person', async () => {
    const { access, store } = guard({ maxJobsPerUser: 2 });
    await store.create(sampleJob('a', { state: 'running' }));
    await expect(reserve(access, 'U1', 'h1')).resolves.toMatchObject({ id: 'h1', owner: slackUser('U1') });
    // The hold counts like a live job until its job is created or it is released.
    await expect(reserve(access, 'U1', 'h2')).rejects.toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/already have 2 videos in progress; the limit is 2 at a time/) });
    await expect(reserve(access, 'U2', 'h3')).resolves.toBeDefined();
  });

  it('gives admins no limit and no hold', async () => {
    const { access, store } = guard({ maxJobsPerUser: 1, admins: ['slack:U1'] });
    await store.create(sampleJob('a', { state: 'running' }));
    await expect(reserve(access, 'U1', 'h1')).resolves.toBeUndefined();
  });

  it('counts delivered videos of the last 24 hours, and those in progress, against the daily quota', async () => {
    const { access, store, clock } = guard({ dailyQuota: 2, maxJobsPerUser: 10 });
    const now = clock.now();
    await store.create(sampleJob('d1', { state: 'delivered', finishedAt: now - 3 * 3600_000 }));
    await store.create(sampleJob('f1', { state: 'failed', finishedAt: now - 1000 }));
    await store.create(sampleJob('c1', { state: 'cancelled', finishedAt: now - 1000 }));
    await store.create(sampleJob('old', { state: 'delivered', finishedAt: now - 25 * 3600_000 }));
    const hold = await reserve(access, 'U1', 'h1');
    await expect(reserve(access, 'U1', 'h2')).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message: 'You have made 1 video in the last 24 hours and 1 more is on the way, which reaches the daily limit of 2. Try again once one has finished, or if one fails.',
    });
    await store.release(hold!);
    await store.create(sampleJob('d2', { state: 'delivered', finishedAt: now - 1000 }));
    await expect(reserve(access, 'U1', 'h3')).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message: 'You have made 2 videos in the last 24 hours, the daily limit. You can make another in about 21 hours.',
    });
    clock.advance(21 * 3600_000 + 1);
    await expect(reserve(access, 'U1', 'h4')).resolves.toBeDefined();
  });
});
