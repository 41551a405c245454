// Moderation: the blocked-terms list admins change at run time, moderators in a row (a guardrail on AWS), and the
// screen every request passes before any GPU work or enhancement (bans, then the prompt).
import { UserFacingError } from './errors.js';
import type { Requester } from './job.js';
import type { Enhancer, Logger, ModerationContext, ModerationVerdict, Moderator, SettingsStore } from './ports.js';

/** The one sentence a person reads for a refused prompt: private, and about the rules, not about them. */
export const REFUSED_TEXT = "Sorry, I can't make a video from this prompt: it matches this workspace's content rules. Try describing it differently.";
export const BANNED_TEXT = 'You cannot make videos with this bot right now. Ask an admin if you think this is a mistake.';

export const MAX_TERM_CHARS = 100;
export const MAX_TERMS = 1000;

/**
 * Text as matching sees it: Unicode-decomposed with the accents dropped ("Café" → "cafe"), lower-cased, and cut
 * into words of letters and digits, so punctuation, spacing and case never matter.
 */
export function words(text: string): string[] {
  return (
    text
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** A term as it is stored and listed: its words joined by single spaces. Throws INVALID_COMMAND when it has none. */
export function normalizeTerm(term: string): string {
  const trimmed = term.trim();
  if (trimmed.length > MAX_TERM_CHARS) throw new UserFacingError('INVALID_COMMAND', `A blocked term can be at most ${MAX_TERM_CHARS} characters; that one has ${trimmed.length}.`);
  const normal = words(trimmed).join(' ');
  if (!normal) throw new UserFacingError('INVALID_COMMAND', 'A blocked term needs at least one letter or digit, e.g. `/admin block add gore`.');
  return normal;
}

/**
 * The first blocked term found in `text` as whole words: "cat" matches "Cat!" and "a CAT sat", not "catalog";
 * "red wine" matches "red, wine" but not "red whine". Terms are normalised already (normalizeTerm).
 */
export function findBlockedTerm(text: string, terms: readonly string[]): string | undefined {
  const tokens = words(text);
  for (const term of terms) {
    const parts = term.split(' ');
    for (let i = 0; i + parts.length <= tokens.length; i++) {
      if (parts.every((p, k) => tokens[i + k] === p)) return term;
    }
  }
  return undefined;
}

/** The blocked-terms list as a Moderator, read from the settings store on every check, so a change applies at once. */
export function blockedTermsModerator(settings: Pick<SettingsStore, 'blockedTerms'>): Moderator {
  return {
    name: 'blocked terms',
    async check(text: string): Promise<ModerationVerdict> {
      const term = findBlockedTerm(text, await settings.blockedTerms());
      return term === undefined ? { allowed: true } : { allowed: false, reason: `blocked term "${term}"` };
    },
  };
}

/** Moderators in a row: the first refusal wins, and the later ones are not asked (the cheap list goes first). */
export function moderatorChain(moderators: readonly Moderator[]): Moderator {
  return {
    name: moderators.map((m) => m.name).join(' + '),
    async check(text: string, context: ModerationContext): Promise<ModerationVerdict> {
      for (const m of moderators) {
        const verdict = await m.check(text, context);
        if (!verdict.allowed) return { ...verdict, reason: `${m.name}: ${verdict.reason}` };
      }
      return { allowed: true };
    },
  };
}

export interface ScreenDeps {
  readonly moderator: Moderator;
  readonly settings: SettingsStore;
  readonly log: Logger;
}

export type Screen = ReturnType<typeof createScreen>;

/** What every request passes before anything runs: the person's ban, then moderation of their prompt. */
export function createScreen(deps: ScreenDeps) {
  const { moderator, settings } = deps;
  const log = deps.log.child({ component: 'moderation' });

  /** Throws NOT_ALLOWED for a banned person. */
  async function admit(requester: Requester): Promise<void> {
    const standing = await settings.standing({ platform: requester.platform, userId: requester.userId });
    if (standing.banned) {
      log.info({ platform: requester.platform, userId: requester.userId }, 'request of a banned person refused');
      throw new UserFacingError('NOT_ALLOWED', BANNED_TEXT);
    }
  }

  /**
   * The verdict on `text`; a refusal is logged (with the rule, never the text: prompts are the person's) and
   * counted. Callers decide what a refusal means at their step.
   */
  async function check(text: string, context: ModerationContext): Promise<ModerationVerdict> {
    const verdict = await moderator.check(text, context);
    if (verdict.allowed) return verdict;
    const who = context.requester ? { platform: context.requester.platform, userId: context.requester.userId } : {};
    // `alert` is a stable field for a log metric filter, like the runner's alerts.
    log.warn({ alert: 'PROMPT_REFUSED', stage: context.stage, rule: verdict.reason, ...who }, 'moderation refused a prompt');
    await settings
      .recordRefusal(context.requester ? { platform: context.requester.platform, userId: context.requester.userId } : undefined)
      .catch((err: unknown) => log.warn({ err }, 'could not count a refused prompt'));
    return verdict;
  }

  /** Throws PROMPT_REFUSED (one private, non-judgemental sentence) when moderation refuses `text`. */
  async function prompt(text: string, context: ModerationContext): Promise<void> {
    const verdict = await check(text, context);
    if (!verdict.allowed) throw new UserFacingError('PROMPT_REFUSED', verdict.message?.trim() || REFUSED_TEXT);
  }

  return { admit, check, prompt };
}

/**
 * The enhancer behind the screen: the prompt is checked before it is sent (a refused prompt is never enhanced), and
 * the rewrite is checked again. Either refusal throws PROMPT_REFUSED; a queued job then runs on the prompt the person
 * typed, which passed moderation at submit (the service's fallback for any enhancer failure).
 */
export function moderatedEnhancer(enhancer: Enhancer, screen: Pick<Screen, 'prompt'>): Enhancer {
  return {
    name: enhancer.name,
    async enhance(prompt: string): Promise<string> {
      await screen.prompt(prompt, { stage: 'prompt' });
      const enhanced = await enhancer.enhance(prompt);
      await screen.prompt(enhanced, { stage: 'enhanced' });
      return enhanced;
    },
  };
}

/** The screen a service runs with: the blocked-terms list, then any other moderators; none without a settings store. */
export function screenFor(deps: { readonly settings?: SettingsStore; readonly moderators?: readonly Moderator[]; readonly logger: Logger }): Screen | undefined {
  if (!deps.settings) return undefined;
  const moderator = moderatorChain([blockedTermsModerator(deps.settings), ...(deps.moderators ?? [])]);
  return createScreen({ moderator, settings: deps.settings, log: deps.logger });
}
