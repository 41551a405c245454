// Posts a finished video: in a thread on the status message, as an attachment if it fits Discord's limit,
// else re-encoded to fit, else as a time-limited link — and says which. Exactly once, through a crash: the post
// carries a nonce with enforce_nonce (Discord returns the first message for a repeat within a few minutes), and its
// last line names the job, so findDelivered can tell a post that went out just before the bot was cut off.
import { createHash } from 'node:crypto';
import { DiscordAPIError } from 'discord.js';
import { shareableLink } from '../../core/delivery.js';
import type { Job } from '../../core/job.js';
import type { Logger, VideoFile } from '../../core/ports.js';
import { formatBytes, summary } from '../../core/status.js';
import { DiscordCodes, type ChannelMessages, type ListedMessage, type UploadFile } from './messages.js';
import type { VideoShrinker } from './shrink.js';

/** Discord's per-attachment limit when the interaction did not say (10 MiB). */
export const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;
export const LINK_TTL_SECONDS = 24 * 60 * 60;

export interface DeliveryDeps {
  readonly messages: ChannelMessages;
  readonly shrinker?: VideoShrinker;
  readonly linkTtlSeconds?: number;
  readonly logger: Logger;
}

export function attachmentLimit(job: Job): number {
  const n = Number(job.conversation.extra?.attachmentSizeLimit);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_ATTACHMENT_LIMIT;
}

export async function deliverVideo(deps: DeliveryDeps, job: Job, video: VideoFile): Promise<void> {
  const log = deps.logger.child({ jobId: job.id });
  const { channelId, statusMessageId } = job.conversation;
  const threadId = statusMessageId ? await deps.messages.startThread(channelId, statusMessageId, threadName(job)) : undefined;
  const target = threadId ?? channelId;
  let limit = attachmentLimit(job);
  const userId = job.requester.userId;
  const head = `<@${userId}> your video is ready.`;
  const base = {
    allowed_mentions: { parse: [] as [], users: [userId] },
    // One message per job even when the post is sent again (a retry after a lost answer, a restart).
    nonce: deliveryNonce(job),
    enforce_nonce: true,
    // Without a thread, point at the status message so the video is found next to its prompt.
    ...(!threadId && statusMessageId ? { message_reference: { message_id: statusMessageId, fail_if_not_exists: false } } : {}),
  };
  const bytes = await video.read();
  const mp4 = (data: Uint8Array): UploadFile => ({ name: video.fileName, data, contentType: 'video/mp4' });

  if (bytes.length <= limit) {
    if (!(await video.confirm())) return;
    try {
      await deps.messages.post(target, { ...base, content: `${head}\n${footer(job)}` }, [mp4(bytes)]);
      log.info({ target, bytes: bytes.length, thread: Boolean(threadId) }, 'video posted');
      return;
    } catch (err) {
      if (!refusedForSize(err)) throw err;
      // The limit this interaction reported was more than Discord takes here: no message was made (the nonce is
      // still free), so go on as for a video over the limit — a smaller re-encode, or a link.
      log.warn({ target, bytes: bytes.length, limit }, 'Discord refused the video as too large; posting a re-encode or a link instead');
      limit = Math.min(limit, bytes.length - 1);
    }
  }

  const durationS = job.params.frames / Math.max(1, job.params.fps);
  const ttl = deps.linkTtlSeconds ?? LINK_TTL_SECONDS;
  const shrunk = deps.shrinker
    ? await deps.shrinker.shrink(bytes, limit, durationS).catch((err: unknown) => {
        log.warn({ err }, 're-encoding the video to fit failed; falling back to a link');
        return undefined;
      })
    : undefined;
  if (shrunk && shrunk.length <= limit) {
    const link = shareableLink(await video.link(ttl).catch(() => undefined));
    const note =
      `The original is ${formatBytes(bytes.length)}, over the ${formatBytes(limit)} attachment limit here, so this is a smaller re-encode (${formatBytes(shrunk.length)}, lower quality).` +
      (link ? ` Full quality, link valid for ${hours(ttl)}: ${link}` : '');
    if (!(await video.confirm())) return;
    await deps.messages.post(target, { ...base, content: `${head} ${note}\n${footer(job)}` }, [mp4(shrunk)]);
    log.info({ target, bytes: bytes.length, shrunk: shrunk.length }, 'video re-encoded to fit and posted');
    return;
  }

  const where = await video.link(ttl);
  if (!where) throw new Error(`video of ${formatBytes(bytes.length)} is over the ${formatBytes(limit)} limit and the backend has no download links`);
  const link = shareableLink(where);
  const poster = await video.readPoster().catch(() => undefined);
  const files = poster && poster.length <= limit ? [{ name: 'poster.jpg', data: poster, contentType: 'image/jpeg' }] : [];
  const tooBig = `It is ${formatBytes(bytes.length)}, over the ${formatBytes(limit)} attachment limit here`;
  if (!(await video.confirm())) return;
  await deps.messages.post(
    target,
    {
      ...base,
      content: link
        ? `${head} ${tooBig}, so here is a download link instead (valid for ${hours(ttl)}): ${link}\n${footer(job)}`
        : `${head} ${tooBig}, and this bot has no download links, so it is saved on the bot's machine: ask whoever runs the bot for it.\n${footer(job)}`,
    },
    files,
  );
  // Where on the bot's machine goes to the log (its admin), never into the channel.
  log.info({ target, bytes: bytes.length, ...(link ? {} : { savedAt: where }) }, link ? 'video too large to attach; posted a link' : 'video too large to attach and no download links; said where it is saved');
}

/** Discord's answer to a file over its limit: HTTP 413, or error 40005 "Request entity too large". */
export function refusedForSize(err: unknown): boolean {
  const e = err as { status?: unknown; code?: unknown } | undefined;
  return e?.status === 413 || e?.code === 40005;
}

/**
 * Whether the job's video post is already there: a message by the bot in the job's thread (or, where there is no
 * thread, replying to the status message in the channel) whose last line names the job. Reads the newest 50.
 */
export async function findDelivered(messages: ChannelMessages, job: Job): Promise<boolean> {
  const { channelId, statusMessageId } = job.conversation;
  const self = await messages.ownUserId();
  const isVideoPost = (m: ListedMessage) => m.author.id === self && m.id !== statusMessageId && m.content.split('\n').at(-1)?.endsWith(jobTag(job)) === true;
  if (statusMessageId) {
    // A thread started from a message has the message's id; no thread there is no video there.
    const inThread = await messages.recent(statusMessageId).catch((err: unknown) => {
      if (err instanceof DiscordAPIError && (err.code === DiscordCodes.unknownChannel || err.status === 404)) return [];
      throw err;
    });
    if (inThread.some(isVideoPost)) return true;
  }
  const inChannel = await messages.recent(channelId);
  return inChannel.some((m) => isVideoPost(m) && (!statusMessageId || m.message_reference?.message_id === statusMessageId));
}

/** Discord's nonce: up to 25 characters, the same for every post of one job. */
export function deliveryNonce(job: Job): string {
  return createHash('sha256').update(`videobot:${job.id}`).digest('base64url').slice(0, 25);
}

function jobTag(job: Job): string {
  return `job ${job.id}`;
}

/** The small print under a video: its parameters and the job it belongs to (what findDelivered looks for). */
function footer(job: Job): string {
  return `-# ${summary(job)} · ${jobTag(job)}`;
}

function threadName(job: Job): string {
  const prompt = job.params.prompt.replace(/\s+/g, ' ').trim();
  return `🎬 ${prompt.length > 80 ? `${prompt.slice(0, 80)}…` : prompt}`;
}

function hours(seconds: number): string {
  const h = Math.round(seconds / 3600);
  return h >= 1 ? `${h} hour${h === 1 ? '' : 's'}` : `${Math.round(seconds / 60)} minutes`;
}
