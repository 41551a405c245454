// Discord chat adapter: slash commands, buttons and modals through discord.js; status and videos through the bot token.
import { Client, Events, GatewayIntentBits } from 'discord.js';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from '../core/image.js';
import type { Conversation, Job } from '../core/job.js';
import type { ChatSurface, EditBudget, Logger, StatusView, VideoFile } from '../core/ports.js';
import type { JobService } from '../core/service.js';
import type { ChatAdapter } from './adapter.js';
import { deliverVideo, findDelivered } from './discord/delivery.js';
import { handleInteraction, type HandlerContext } from './discord/handlers.js';
import { ChannelMessages } from './discord/messages.js';
import { preparingMessage, statusMessage } from './discord/render.js';
import type { VideoShrinker } from './discord/shrink.js';

export { createFfmpegShrinker, type VideoShrinker } from './discord/shrink.js';

export interface DiscordAdapterOptions {
  readonly token: string;
  /** Only checked against the application Discord reports at login; interactions carry their own id. */
  readonly applicationId?: string;
  /** Discord's REST base URL, e.g. for a REST proxy (DISCORD_API_URL). The gateway URL comes from its GET /gateway/bot. */
  readonly apiUrl?: string;
  readonly logger: Logger;
  readonly imageLimits?: ImageLimits;
  /** Re-encodes videos over the attachment limit; without one, such videos are posted as a time-limited link. */
  readonly shrinker?: VideoShrinker;
  readonly linkTtlSeconds?: number;
  /** REST request timeout; uploads of ~10 MiB need more than discord.js's 15 s default on slow links. */
  readonly restTimeoutMs?: number;
  /** Status edits per channel (default DISCORD_CHANNEL_EDITS); tests shorten the window instead of waiting it out. */
  readonly channelEdits?: EditBudget;
  /**
   * discord.js's cap on all REST requests a second (default: its own 50, Discord's global limit). A burst test against
   * the loopback Discord lifts it, so the per-channel edit budget alone paces the edits (and the test waits less).
   */
  readonly globalRequestsPerSecond?: number;
}

/**
 * Discord does not publish its per-route numbers ("we don't put rate limit details in our documentation"; clients are
 * to read the X-RateLimit-* headers), but message edits in one channel share one bucket that answers
 * `X-RateLimit-Limit: 5` with a 5-second reset: 5 edits per 5 s per channel, shared by every job there (counted
 * here over 5.25 s: a quarter second of margin for requests that reach Discord unevenly).
 */
export const DISCORD_CHANNEL_EDITS = { edits: 5, windowMs: 5250 } as const;

export function createDiscordAdapter(options: DiscordAdapterOptions): ChatAdapter {
  const log = options.logger.child({ platform: 'discord' });
  const client = new Client({
    // No privileged intents: interactions arrive without any.
    intents: [GatewayIntentBits.Guilds],
    rest: {
      timeout: options.restTimeoutMs ?? 120_000,
      ...(options.apiUrl ? { api: options.apiUrl } : {}),
      ...(options.globalRequestsPerSecond ? { globalRequestsPerSecond: options.globalRequestsPerSecond } : {}),
    },
  });
  client.rest.setToken(options.token);
  const messages = new ChannelMessages(client.rest);
  const pendingImages = new Map<string, Promise<Uint8Array>>();

  const surface: ChatSurface = {
    platform: 'discord',
    editBudgets: { perChannel: options.channelEdits ?? DISCORD_CHANNEL_EDITS },
    async announce(job: Job): Promise<Conversation> {
      const status = await messages.post(job.conversation.channelId, preparingMessage(job.requester.userId, job.params.prompt));
      return { ...job.conversation, statusMessageId: status.id };
    },
    async retract(conversation: Conversation): Promise<void> {
      if (conversation.statusMessageId) await messages.delete(conversation.channelId, conversation.statusMessageId);
    },
    async showStatus(job: Job, view: StatusView): Promise<void> {
      const { channelId, statusMessageId } = job.conversation;
      if (!statusMessageId) {
        log.warn({ jobId: job.id }, 'job has no status message to update');
        return;
      }
      await messages.edit(channelId, statusMessageId, statusMessage(job, view));
    },
    postVideo(job: Job, video: VideoFile): Promise<void> {
      return deliverVideo({ messages, logger: log, ...(options.shrinker ? { shrinker: options.shrinker } : {}), ...(options.linkTtlSeconds ? { linkTtlSeconds: options.linkTtlSeconds } : {}) }, job, video);
    },
    findDelivered: (job: Job) => findDelivered(messages, job),
  };

  return {
    surface,
    async start(service: JobService): Promise<void> {
      const ctx: HandlerContext = { service, messages, logger: log, imageLimits: options.imageLimits ?? DEFAULT_IMAGE_LIMITS, pendingImages };
      client.on(Events.InteractionCreate, (interaction) => void handleInteraction(ctx, interaction));
      client.on(Events.Error, (err) => log.error({ err }, 'discord client error'));
      client.on(Events.Warn, (message) => log.warn({ message }, 'discord client warning'));
      const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
      await client.login(options.token);
      await ready;
      const appId = client.application?.id;
      if (options.applicationId && appId && options.applicationId !== appId) {
        log.warn({ configured: options.applicationId, actual: appId }, 'DISCORD_APPLICATION_ID does not match the bot token’s application');
      }
      log.info({ user: client.user?.tag, applicationId: appId }, 'connected to Discord');
    },
    async stop(): Promise<void> {
      pendingImages.clear();
      await client.destroy();
    },
  };
}
