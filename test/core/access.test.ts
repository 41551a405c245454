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

  it('limits live jobs per person', async () => {
    const { access, store } = guard({ maxJobsPerUser: 1 });
    await store.create(sampleJob('a', { state: 'running' }));
    await expect(access.checkLimits(slackUser('U1'))).rejects.toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/limit is 1 at a time/) });
    await expect(access.checkLimits(slackUser('U2'))).resolves.toBeUndefined();
  });

  it('counts only delivered videos of the last 24 hours against the daily quota', async () => {
    const { access, store, clock } = guard({ dailyQuota: 2, maxJobsPerUser: 10 });
    const now = clock.now();
    await store.create(sampleJob('d1', { state: 'delivered', finishedAt: now - 3 * 3600_000 }));
    await store.create(sampleJob('f1', { state: 'failed', finishedAt: now - 1000 }));
    await store.create(sampleJob('c1', { state: 'cancelled', finishedAt: now - 1000 }));
    await store.create(sampleJob('old', { state: 'delivered', finishedAt: now - 25 * 3600_000 }));
    await expect(access.checkLimits(slackUser('U1'))).resolves.toBeUndefined();
    await store.create(sampleJob('d2', { state: 'delivered', finishedAt: now - 1000 }));
    await expect(access.checkLimits(slackUser('U1'))).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
      message: 'You have made 2 videos in the last 24 hours, the daily limit. You can make another in about 21 hours.',
    });
    clock.advance(21 * 3600_000 + 1);
    await expect(access.checkLimits(slackUser('U1'))).resolves.toBeUndefined();
  });
});
