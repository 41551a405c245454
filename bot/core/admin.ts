// Admin commands, the same on every platform: the blocked-terms list, a person's usage, quota resets, bans.
import type { AccessPolicy, Actor } from './access.js';
import { InvalidCommandError, UserFacingError } from './errors.js';
import type { Platform } from './job.js';
import { isFinal } from './job.js';
import { MAX_TERMS, normalizeTerm } from './moderation.js';
import type { Clock, JobStore, Logger, SettingsStore, SlotOwner } from './ports.js';

export type AdminCommand =
  | { readonly kind: 'block-add'; readonly term: string }
  | { readonly kind: 'block-remove'; readonly term: string }
  | { readonly kind: 'block-list' }
  | { readonly kind: 'usage' | 'reset' | 'ban' | 'unban'; readonly user: SlotOwner }
  | { readonly kind: 'help' };

export const ADMIN_HELP = [
  'Admin commands:',
  '  block add <term>     Refuse prompts that contain the word or phrase (whole words; case and accents do not matter).',
  '  block remove <term>  Allow it again.',
  '  block list           The blocked terms, and how many prompts moderation has refused.',
  '  usage <user>         Their videos in the last 24 hours against the daily quota, jobs in progress, refusals.',
  '  reset <user>         Reset their daily quota: videos made so far stop counting.',
  '  ban <user>           They may not make videos until unbanned.',
  '  unban <user>         Lift the ban.',
].join('\n');

const NOT_ADMIN = 'Only admins can use the admin commands.';

/**
 * A person named in a command: a chat mention (Slack `<@U123|name>`, Discord `<@123>` or `<@!123>`), `@U123`, a plain
 * id, or `platform:id` for someone on another platform. Without a platform, the admin's own platform.
 */
export function parseUserRef(text: string, platform: Platform): SlotOwner {
  const ref = text.trim();
  const mention = /^<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>$/.exec(ref);
  if (mention) return { platform, userId: mention[1]! };
  const prefixed = /^(shell|cli|slack|discord|test):(\S+)$/.exec(ref);
  if (prefixed) return { platform: prefixed[1] as Platform, userId: prefixed[2]! };
  const plain = /^@?([\w.-]+)$/.exec(ref);
  if (plain) return { platform, userId: plain[1]! };
  throw new InvalidCommandError(`"${ref}" is not a person; mention them (@name) or give their user id.`);
}

/** Parses the text after `/admin`. Throws InvalidCommandError with one sentence saying what is allowed. */
export function parseAdminCommand(text: string, platform: Platform): AdminCommand {
  const [first = '', ...rest] = text.trim().split(/\s+/);
  const verb = first.toLowerCase();
  const tail = text.trim().slice(first.length).trim();
  if (verb === '' || verb === 'help') return { kind: 'help' };
  if (verb === 'block') {
    const [sub = '', ...words] = rest;
    const term = words.join(' ');
    switch (sub.toLowerCase()) {
      case 'add':
      case 'remove':
        if (!term) throw new InvalidCommandError(`Which term? e.g. \`/admin block ${sub.toLowerCase()} gore\`.`);
        return { kind: sub.toLowerCase() === 'add' ? 'block-add' : 'block-remove', term };
      case 'list':
      case '':
        return { kind: 'block-list' };
      default:
        throw new InvalidCommandError(`Unknown \`/admin block ${sub}\`; use \`block add <term>\`, \`block remove <term>\` or \`block list\`.`);
    }
  }
  if (verb === 'usage' || verb === 'reset' || verb === 'ban' || verb === 'unban') {
    if (!tail) throw new InvalidCommandError(`Whose? e.g. \`/admin ${verb} @name\`.`);
    if (rest.length > 1 && !/^<@[^>]*>$/.test(tail)) throw new InvalidCommandError(`Give one person to \`/admin ${verb}\`.`);
    return { kind: verb, user: parseUserRef(tail, platform) };
  }
  throw new InvalidCommandError(`Unknown admin command "${first}". ${ADMIN_HELP.split('\n').slice(1).map((l) => l.trim().split('  ')[0]).join(', ')}.`);
}

export interface AdminDeps {
  readonly settings: SettingsStore;
  readonly store: JobStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policy: Pick<AccessPolicy, 'dailyQuota' | 'maxJobsPerUser'>;
  readonly isAdmin: (actor: Actor) => boolean;
  /** When delivered videos start counting against the person's quota (access.ts quotaSince). */
  readonly quotaSince: (who: Actor, now: number) => Promise<number>;
}

export type Admin = ReturnType<typeof createAdmin>;

export function createAdmin(deps: AdminDeps) {
  const { settings, store, clock } = deps;
  const log = deps.logger.child({ component: 'admin' });

  /** Runs an admin command for `by`, returning the private reply. Non-admins get NOT_ALLOWED. */
  async function run(by: Actor, command: AdminCommand): Promise<string> {
    if (!deps.isAdmin(by)) {
      log.info({ platform: by.platform, userId: by.userId, command: command.kind }, 'admin command refused: not an admin');
      throw new UserFacingError('NOT_ALLOWED', NOT_ADMIN);
    }
    const audit = (what: object) => log.info({ by: `${by.platform}:${by.userId}`, command: command.kind, ...what }, 'admin command');
    switch (command.kind) {
      case 'help':
        return ADMIN_HELP;
      case 'block-add': {
        const term = normalizeTerm(command.term);
        if ((await settings.blockedTerms()).length >= MAX_TERMS) {
          throw new UserFacingError('INVALID_COMMAND', `The list already has ${MAX_TERMS} terms, the most it can hold; remove some first.`);
        }
        const added = await settings.addBlockedTerm(term);
        audit({ term, added });
        return added ? `Blocked "${term}": prompts containing it are refused from now on.` : `"${term}" was already blocked.`;
      }
      case 'block-remove': {
        const term = normalizeTerm(command.term);
        const removed = await settings.removeBlockedTerm(term);
        audit({ term, removed });
        return removed ? `"${term}" is no longer blocked.` : `"${term}" was not on the list. \`/admin block list\` shows it.`;
      }
      case 'block-list': {
        const [terms, refused] = await Promise.all([settings.blockedTerms(), settings.refusalCount()]);
        const list = terms.length === 0 ? 'No terms are blocked.' : `Blocked terms (${terms.length}): ${terms.map((t) => `"${t}"`).join(', ')}`;
        return `${list}\nPrompts refused by moderation so far: ${refused}.`;
      }
      case 'usage':
        return usage(command.user);
      case 'reset': {
        await settings.resetQuota(command.user, clock.now());
        audit({ user: ref(command.user) });
        return `Reset ${ref(command.user)}'s daily quota: the videos they made so far no longer count.`;
      }
      case 'ban': {
        if (deps.isAdmin(command.user)) throw new UserFacingError('INVALID_COMMAND', `${ref(command.user)} is an admin; remove them from VIDEOBOT_ADMINS first.`);
        await settings.setBanned(command.user, true);
        audit({ user: ref(command.user) });
        return `${ref(command.user)} can no longer make videos. \`/admin unban\` lifts it; jobs already running finish.`;
      }
      case 'unban': {
        await settings.setBanned(command.user, false);
        audit({ user: ref(command.user) });
        return `${ref(command.user)} can make videos again.`;
      }
    }
  }

  async function usage(user: SlotOwner): Promise<string> {
    const now = clock.now();
    const since = await deps.quotaSince(user, now);
    const [delivered, recent, standing] = await Promise.all([
      store.countDeliveredSince(user.platform, user.userId, since),
      store.listByUser(user.platform, user.userId, 100),
      settings.standing(user),
    ]);
    const live = recent.filter((j) => !isFinal(j.state)).length;
    const quota = deps.policy.dailyQuota > 0 ? `${delivered} of ${deps.policy.dailyQuota} videos` : `${delivered} video${delivered === 1 ? '' : 's'} (no daily quota)`;
    const window = standing.quotaResetAt !== undefined && standing.quotaResetAt > now - 24 * 3_600_000 ? `since the reset at ${new Date(standing.quotaResetAt).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'in the last 24 hours';
    return [
      `${ref(user)}: ${quota} ${window}; ${live} in progress (at most ${deps.policy.maxJobsPerUser} at a time).`,
      `Prompts refused: ${standing.refusals}. ${standing.banned ? 'Banned: may not make videos.' : 'Not banned.'}`,
    ].join('\n');
  }

  return { run };
}

function ref(user: SlotOwner): string {
  return `${user.platform}:${user.userId}`;
}
