// History: a person's delivered videos, newest first, a page at a time — seen only by that person or an admin.
import type { Actor } from './access.js';
import { parseUserRef } from './admin.js';
import { OUTPUT_FILES } from './contract.js';
import { UserFacingError } from './errors.js';
import type { Conversation, Platform } from './job.js';
import type { JobStore, ObjectStore, SlotOwner } from './ports.js';
import { getPreset } from './presets.js';
import { printable } from './status.js';

export const HISTORY_PAGE_SIZE = 10;
/** Pages go back this far (200 videos); older ones are still in the store, just not paged to. */
export const MAX_HISTORY_PAGES = 20;

export interface HistoryEntry {
  readonly jobId: string;
  readonly prompt: string;
  readonly model: string;
  readonly modelLabel: string;
  readonly seed: number;
  /** Epoch ms the video was asked for. */
  readonly createdAt: number;
  /** A download link (presigned, time-limited), where the backend has one. */
  readonly link?: string;
  /** A file:// link on the bot's machine: only for the terminal chat and the CLI, whose user sits at that machine. */
  readonly localLink?: string;
  /** Where the video was posted, for the platform's own message link. */
  readonly conversation: Conversation;
}

export interface HistoryPage {
  readonly owner: SlotOwner;
  /** 1-based. */
  readonly page: number;
  readonly entries: readonly HistoryEntry[];
  readonly hasPrevious: boolean;
  readonly hasNext: boolean;
}

export interface HistoryDeps {
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly isAdmin: (actor: Actor) => boolean;
  /** How long download links live. */
  readonly linkTtlSeconds: number;
  readonly pageSize?: number;
}

export type History = ReturnType<typeof createHistory>;

export function createHistory(deps: HistoryDeps) {
  const size = deps.pageSize ?? HISTORY_PAGE_SIZE;

  /**
   * Page `page` of `owner`'s videos (default: the caller's own). Someone else's history needs an admin: anyone
   * else is refused in one sentence.
   */
  async function page(by: Actor, options: { readonly owner?: SlotOwner; readonly page?: number } = {}): Promise<HistoryPage> {
    const owner = options.owner ?? { platform: by.platform, userId: by.userId };
    const own = owner.platform === by.platform && owner.userId === by.userId;
    if (!own && !deps.isAdmin(by)) throw new UserFacingError('NOT_ALLOWED', 'Only admins can see other people’s videos; `/videos` shows yours.');
    const n = options.page ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY_PAGES) {
      throw new UserFacingError('INVALID_COMMAND', `Pages go from 1 to ${MAX_HISTORY_PAGES}; got ${String(options.page)}.`);
    }
    // One more than the page holds says whether there is a next page.
    const jobs = await deps.store.listDeliveredByUser(owner.platform, owner.userId, n * size + 1);
    const slice = jobs.slice((n - 1) * size, n * size);
    const entries = await Promise.all(
      slice.map(async (job): Promise<HistoryEntry> => {
        const link = await deps.objects.outputLink(job.id, OUTPUT_FILES.video, deps.linkTtlSeconds);
        const preset = getPreset(job.params.model);
        return {
          jobId: job.id,
          prompt: job.params.prompt,
          model: job.params.model,
          modelLabel: preset?.label ?? job.params.model,
          seed: job.params.seed,
          createdAt: job.createdAt,
          // Only links people can open elsewhere: a file:// link is a path on the bot's machine, not for chats.
          ...(link && /^https?:\/\//.test(link) ? { link } : {}),
          ...(link?.startsWith('file:') && (by.platform === 'shell' || by.platform === 'cli') ? { localLink: link } : {}),
          conversation: job.conversation,
        };
      }),
    );
    return { owner, page: n, entries, hasPrevious: n > 1, hasNext: jobs.length > n * size && n < MAX_HISTORY_PAGES };
  }

  return { page };
}

/** "2026-11-21 12:00 UTC" */
export function formatDate(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * The text after `/videos`: an optional person (admins: `@name`, a mention or `platform:id`) and an optional page
 * number, in either order. Throws INVALID_COMMAND in one sentence.
 */
export function parseVideosArgs(text: string, platform: Platform): { owner?: SlotOwner; page?: number } {
  const out: { owner?: SlotOwner; page?: number } = {};
  for (const word of text.trim().match(/<@[^>]*>|\S+/g) ?? []) {
    if (/^\d+$/.test(word) && out.page === undefined) out.page = Number(word);
    else if (out.owner === undefined && !/^\d+$/.test(word)) out.owner = parseUserRef(word, platform);
    else throw new UserFacingError('INVALID_COMMAND', 'Use `/videos [page]`, or `/videos @person [page]` as an admin.');
  }
  return out;
}

/** The page as plain text (the terminal chat); `saved` says where a video without a link is. */
export function historyText(page: HistoryPage, fileLink: (link: string) => string = (l) => l): string {
  const whose = `${page.owner.platform}:${page.owner.userId}`;
  if (page.entries.length === 0) {
    return page.page === 1 ? `No videos yet for ${whose}. Try /video a bee on a flower` : `No videos on page ${page.page}.`;
  }
  const lines = page.entries.map((e, i) => {
    const where = e.link ?? (e.localLink ? fileLink(e.localLink) : "saved on the bot's machine");
    return `${(page.page - 1) * HISTORY_PAGE_SIZE + i + 1}. ${e.jobId}  ${formatDate(e.createdAt)}  ${e.modelLabel} · seed ${e.seed}\n   ${printable(e.prompt)}\n   ${where}`;
  });
  const nav = [page.hasPrevious ? `/videos ${page.page - 1} for newer` : '', page.hasNext ? `/videos ${page.page + 1} for older` : ''].filter(Boolean).join(' · ');
  return [`Videos of ${whose}, page ${page.page}:`, ...lines, ...(nav ? [nav] : [])].join('\n');
}
