// What every Slack handler shares: its dependencies, the one error path, handing a request to the JobService, images,
// private replies.
import type { webApi } from '@slack/bolt';
import { FAILURE_TEXT, UserFacingError } from '../../core/errors.js';
import { collectWithin, inspectImage, type ImageLimits } from '../../core/image.js';
import type { Conversation, Job, Requester } from '../../core/job.js';
import type { Logger } from '../../core/ports.js';
import type { JobService, SubmitRequest } from '../../core/service.js';
import { formatBytes } from '../../core/status.js';
import type { SlackFileRef } from './blocks.js';

export type WebClient = webApi.WebClient;

export interface HandlerDeps {
  readonly service: JobService;
  readonly log: Logger;
  /** Sent as a Bearer token to download url_private_download files. */
  readonly botToken: string;
  /** Where the bot token may be sent when downloading a file (Slack's hosts over HTTPS, or the configured API origin). */
  readonly isSlackFileUrl: (url: URL) => boolean;
  readonly imageLimits: ImageLimits;
  readonly claims: RequestClaims;
}

/**
 * Request keys this process has already started work for. The JobService dedupes jobs by requestKey
 * durably; this also stops a retried delivery from posting a second status message before that.
 */
export class RequestClaims {
  private readonly seen = new Map<string, number>();
  constructor(private readonly ttlMs = 15 * 60_000) {}

  /** True the first time a key is claimed (within the TTL). */
  claim(key: string): boolean {
    const now = Date.now();
    for (const [k, at] of this.seen) if (now - at > this.ttlMs) this.seen.delete(k);
    if (this.seen.has(key)) return false;
    this.seen.set(key, now);
    return true;
  }
}

export function slackRequester(userId: string, displayName?: string): Requester {
  return { platform: 'slack', userId, ...(displayName ? { displayName } : {}) };
}

/** The sentence a person reads for an error: ours when we wrote one, Slack's refusal to post in words, a generic one otherwise. */
export function errorText(err: unknown): string {
  if (err instanceof UserFacingError) return err.message;
  if (cannotPostHere(err)) return 'I cannot post in this conversation. Invite me first (`/invite @videobot`), or DM me.';
  return FAILURE_TEXT.INTERNAL_ERROR!;
}

function cannotPostHere(err: unknown): boolean {
  const code = (err as { data?: { error?: string } } | undefined)?.data?.error;
  return code === 'not_in_channel' || code === 'channel_not_found';
}

/**
 * The one error path of every Slack handler: runs its work, and any error ends as one private sentence through
 * `tell` (logged unless it is a refusal written for the person).
 */
export async function answering(
  log: Logger,
  what: string,
  tell: (text: string, err: unknown) => Promise<void>,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (cannotPostHere(err)) log.warn({ err }, `${what}: cannot post in the conversation`);
    else if (!(err instanceof UserFacingError)) log.error({ err }, `${what} failed`);
    await tell(errorText(err), err).catch((e: unknown) => log.warn({ err: e }, 'could not tell the user'));
  }
}

export interface Place {
  readonly channel: string;
  /** The thread to reply in; without one the status message becomes the thread root. */
  readonly thread?: string;
}

/** Where a request's status message will go, for the JobService (the surface posts it there on announce). */
export function conversationAt(place: Place): Conversation {
  return { platform: 'slack', channelId: place.channel, ...(place.thread ? { threadId: place.thread } : {}) };
}

/**
 * Hands a request to the JobService's one door, once per request key: a retried delivery of the same request
 * stops here. The service refuses by throwing (before anything is posted), posts the status message, and
 * returns the job.
 */
export async function submitOnce(deps: HandlerDeps, request: SubmitRequest & { readonly requestKey: string }): Promise<Job | undefined> {
  if (!deps.claims.claim(request.requestKey)) {
    deps.log.info({ requestKey: request.requestKey }, 'duplicate delivery; the first one is already being handled');
    return undefined;
  }
  const { job } = await deps.service.submit(request);
  return job;
}

/**
 * An ephemeral reply only `user` sees (a plain reply in a DM, where ephemerals are odd). Where the bot
 * cannot post (a channel it is not in), the reply goes to the person's DM with the app instead.
 */
export async function tellPrivately(client: WebClient, log: Logger, to: { channel: string; user: string; thread?: string }, text: string): Promise<void> {
  try {
    if (to.channel.startsWith('D')) {
      await client.chat.postMessage({ channel: to.channel, text, ...(to.thread ? { thread_ts: to.thread } : {}) });
    } else {
      await client.chat.postEphemeral({ channel: to.channel, user: to.user, text, ...(to.thread ? { thread_ts: to.thread } : {}) });
    }
  } catch (err) {
    log.warn({ err, channel: to.channel }, 'could not reply in the conversation; replying in a DM');
    await client.chat.postMessage({ channel: to.user, text }).catch((e) => log.warn({ err: e }, 'could not reply to the user'));
  }
}

/** The file fields we read from Slack's event and shortcut payloads. */
export interface SlackFile {
  readonly id?: string;
  readonly name?: string;
  readonly mimetype?: string;
  readonly size?: number;
  readonly url_private_download?: string;
  readonly url_private?: string;
}

/** The first image among a message's files; a clear error when there are files but none is an image. */
export function pickImage(files: readonly SlackFile[] | undefined): SlackFileRef | undefined {
  if (!files || files.length === 0) return undefined;
  const file = files.find((f) => f.mimetype?.startsWith('image/')) ?? files[0]!;
  const url = file.url_private_download ?? file.url_private;
  if (!url) throw new UserFacingError('INVALID_IMAGE', 'The attached file cannot be downloaded (it may be an external file). Upload the image to Slack directly.');
  if (file.mimetype && !file.mimetype.startsWith('image/')) {
    throw new UserFacingError('INVALID_IMAGE', `${file.name ?? 'The file'} is not a PNG, JPEG or WebP image.`);
  }
  return {
    url,
    ...(file.id ? { id: file.id } : {}),
    ...(file.name ? { name: file.name } : {}),
    ...(file.size !== undefined ? { size: file.size } : {}),
    ...(file.mimetype ? { mimetype: file.mimetype } : {}),
  };
}

/** Downloads a Slack file with the bot token and checks it is an image within the limits. */
export async function downloadImage(file: SlackFileRef, deps: Pick<HandlerDeps, 'botToken' | 'isSlackFileUrl' | 'imageLimits'>): Promise<Uint8Array> {
  const limits = deps.imageLimits;
  const tooBig = () => new UserFacingError('INVALID_IMAGE', `The image is larger than ${formatBytes(limits.maxBytes)}, the limit for animating.`);
  if (file.size !== undefined && file.size > limits.maxBytes) throw tooBig();
  const response = await fetchWithBotToken(file.url, deps);
  if (!response.ok || !response.body) {
    throw new UserFacingError('INVALID_IMAGE', `The image could not be downloaded from Slack (HTTP ${response.status}).`);
  }
  const bytes = await collectWithin(response.body as unknown as AsyncIterable<Uint8Array>, limits.maxBytes);
  if (!bytes) throw tooBig();
  inspectImage(bytes, limits, 'The image');
  return bytes;
}

const MAX_REDIRECTS = 3;

/**
 * GETs a file with the bot token, following redirects by hand: every hop must be a Slack file URL,
 * so the token never reaches another host (fetch would otherwise follow a redirect anywhere).
 */
async function fetchWithBotToken(url: string, deps: Pick<HandlerDeps, 'botToken' | 'isSlackFileUrl'>): Promise<Response> {
  let target = URL.canParse(url) ? new URL(url) : undefined;
  for (let hop = 0; ; hop++) {
    if (!target || !deps.isSlackFileUrl(target)) {
      throw new UserFacingError('INVALID_IMAGE', 'That image is not stored in Slack. Upload the image file itself.');
    }
    let response: Response;
    try {
      response = await fetch(target, { headers: { Authorization: `Bearer ${deps.botToken}` }, redirect: 'manual', signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      throw new UserFacingError('INVALID_IMAGE', 'The image could not be downloaded from Slack. Try again in a moment.', { cause: err });
    }
    const location = response.headers.get('location');
    if (response.status < 300 || response.status > 399 || !location) return response;
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new UserFacingError('INVALID_IMAGE', 'The image could not be downloaded from Slack (too many redirects).');
    target = URL.canParse(location, target.href) ? new URL(location, target) : undefined;
  }
}

/** "<@U123> make it rain" → "make it rain" */
export function stripMentions(text: string): string {
  return text.replace(/<@[A-Z0-9]+(\|[^>]*)?>/g, ' ').replace(/\s+/g, ' ').trim();
}
