// Who may make videos where, and how many: allow-lists, admins, and a slot held per request within the per-user
// concurrency limit and the daily quota.
import { UserFacingError } from './errors.js';
import type { Conversation, Platform, Requester } from './job.js';
import type { Clock, JobStore, SettingsStore, SlotHold } from './ports.js';

export interface AccessPolicy {
  /** Empty means everyone. Entries are user ids, optionally prefixed with the platform ("slack:U123"). */
  readonly allowedUsers: readonly string[];
  readonly allowedChannels: readonly string[];
  readonly admins: readonly string[];
  readonly maxJobsPerUser: number;
  /**
   * Videos per user per rolling 24 hours, counting those delivered and those still in progress; 0 means no limit.
   * Failed and cancelled jobs do not count.
   */
  readonly dailyQuota: number;
}

export interface Actor {
  readonly platform: Platform;
  readonly userId: string;
}

export const OPEN_POLICY: AccessPolicy = { allowedUsers: [], allowedChannels: [], admins: [], maxJobsPerUser: 2, dailyQuota: 0 };

const DAY_MS = 24 * 60 * 60 * 1000;
/** Long enough to post a status message; a hold left by a bot that stopped in between frees its slot after this. */
const HOLD_TTL_MS = 5 * 60 * 1000;

function listed(list: readonly string[], platform: Platform, id: string): boolean {
  return list.includes(id) || list.includes(`${platform}:${id}`);
}

/** `settings`: where an admin's quota reset (/admin reset) is kept; without it the quota counts the last 24 hours. */
export function createAccessGuard(policy: AccessPolicy, store: JobStore, clock: Clock, settings?: Pick<SettingsStore, 'standing'>) {
  function isAdmin(actor: Actor): boolean {
    return listed(policy.admins, actor.platform, actor.userId);
  }

  /** Throws NOT_ALLOWED for people or channels outside the allow-lists. Admins pass everywhere. */
  function checkAccess(requester: Requester, conversation: Conversation): void {
    if (isAdmin(requester)) return;
    if (policy.allowedUsers.length > 0 && !listed(policy.allowedUsers, requester.platform, requester.userId)) {
      throw new UserFacingError('NOT_ALLOWED', 'You are not on the list of people who can make videos with this bot. Ask an admin to add you.');
    }
    if (policy.allowedChannels.length > 0 && !listed(policy.allowedChannels, conversation.platform, conversation.channelId)) {
      throw new UserFacingError('NOT_ALLOWED', 'Videos cannot be made in this channel. Ask an admin which channels the bot works in.');
    }
  }

  /**
   * Holds one of the person's job slots in the store (one atomic step, so two requests at once cannot both take
   * the last slot), or throws RATE_LIMITED / QUOTA_EXCEEDED saying when they can try again. Live jobs count
   * against the daily quota too: a quota of 20 is 20 videos, however many are asked for at once. Admins have
   * no limits and get no hold.
   */
  async function reserveSlot(requester: Requester, holdId: string): Promise<SlotHold | undefined> {
    if (isAdmin(requester)) return undefined;
    const now = clock.now();
    const hold: SlotHold = { id: holdId, owner: { platform: requester.platform, userId: requester.userId }, expiresAt: now + HOLD_TTL_MS };
    const since = await quotaSince(requester, now);
    const outcome = await store.reserve(hold, { maxLive: policy.maxJobsPerUser, dailyQuota: policy.dailyQuota, deliveredSince: since });
    if (outcome.held) return hold;
    if (outcome.reason === 'live') {
      const live = outcome.inProgress;
      throw new UserFacingError(
        'RATE_LIMITED',
        `You already have ${live} video${live === 1 ? '' : 's'} in progress; the limit is ${policy.maxJobsPerUser} at a time. Wait for one to finish or cancel it.`,
      );
    }
    const { delivered, inProgress } = outcome;
    if (delivered < policy.dailyQuota) {
      throw new UserFacingError(
        'QUOTA_EXCEEDED',
        `You have made ${delivered} video${delivered === 1 ? '' : 's'} in the last 24 hours and ${inProgress} more ${inProgress === 1 ? 'is' : 'are'} on the way, which reaches the daily limit of ${policy.dailyQuota}. Try again once one has finished, or if one fails.`,
      );
    }
    const recent = await store.listByUser(requester.platform, requester.userId, 100);
    const oldest = recent
      .filter((j) => j.state === 'delivered' && (j.finishedAt ?? 0) >= since)
      .reduce((min, j) => Math.min(min, j.finishedAt ?? now), now);
    const hours = Math.max(1, Math.ceil((oldest + DAY_MS - now) / 3_600_000));
    throw new UserFacingError(
      'QUOTA_EXCEEDED',
      `You have made ${delivered} video${delivered === 1 ? '' : 's'} in the last 24 hours, the daily limit. You can make another in about ${hours} hour${hours === 1 ? '' : 's'}.`,
    );
  }

  /** Delivered videos since then count against the daily quota: 24 hours ago, or an admin's later reset. */
  async function quotaSince(who: Actor, now: number): Promise<number> {
    const dayAgo = now - DAY_MS;
    if (!settings || policy.dailyQuota <= 0) return dayAgo;
    const { quotaResetAt } = await settings.standing({ platform: who.platform, userId: who.userId });
    return Math.max(dayAgo, quotaResetAt ?? 0);
  }

  return { isAdmin, checkAccess, reserveSlot, quotaSince, policy };
}
