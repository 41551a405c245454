// Channel messages and threads through the bot token (never the 15-minute interaction token), by id, so they work after a restart.
import { DiscordAPIError, Routes, type REST } from 'discord.js';
import type { MessageBody } from './render.js';

export interface UploadFile {
  readonly name: string;
  readonly data: Uint8Array;
  readonly contentType: string;
}

/** Discord's JSON error codes we act on. */
export const DiscordCodes = {
  unknownMessage: 10008,
  unknownChannel: 10003,
  missingAccess: 50001,
  cannotSendInDm: 50007,
  missingPermissions: 50013,
  threadAlreadyCreated: 160004,
} as const;

/** The fields of a listed message we read. */
export interface ListedMessage {
  readonly id: string;
  readonly author: { readonly id: string };
  readonly content: string;
  readonly attachments: readonly { readonly filename: string }[];
  readonly message_reference?: { readonly message_id?: string };
}

export class ChannelMessages {
  private self: Promise<string> | undefined;

  constructor(private readonly rest: REST) {}

  async post(channelId: string, body: Partial<MessageBody> & { message_reference?: unknown; nonce?: string; enforce_nonce?: boolean }, files: readonly UploadFile[] = []): Promise<{ id: string }> {
    const payload = files.length ? { ...body, attachments: files.map((f, i) => ({ id: i, filename: f.name })) } : body;
    const message = (await this.rest.post(Routes.channelMessages(channelId), {
      body: payload,
      ...(files.length ? { files: files.map((f) => ({ name: f.name, data: Buffer.from(f.data), contentType: f.contentType })) } : {}),
    })) as { id: string };
    return { id: message.id };
  }

  /** The newest messages of a channel or thread, newest first (Discord returns at most 100). */
  async recent(channelId: string, limit = 50): Promise<ListedMessage[]> {
    return (await this.rest.get(Routes.channelMessages(channelId), { query: new URLSearchParams({ limit: String(limit) }) })) as ListedMessage[];
  }

  /** The bot's own user id (the author of what it posts), asked once. */
  async ownUserId(): Promise<string> {
    this.self ??= (this.rest.get(Routes.user('@me')) as Promise<{ id: string }>).then((u) => u.id).catch((err: unknown) => {
      this.self = undefined;
      throw err;
    });
    return this.self;
  }

  async edit(channelId: string, messageId: string, body: Partial<MessageBody>): Promise<void> {
    await this.rest.patch(Routes.channelMessage(channelId, messageId), { body });
  }

  async delete(channelId: string, messageId: string): Promise<void> {
    await this.rest.delete(Routes.channelMessage(channelId, messageId));
  }

  /**
   * Starts a public thread on a message and returns its id (a thread started from a message has the message's id).
   * Returns undefined where threads are not possible (DMs, threads, missing permission).
   */
  async startThread(channelId: string, messageId: string, name: string): Promise<string | undefined> {
    try {
      const thread = (await this.rest.post(Routes.threads(channelId, messageId), {
        body: { name: name.slice(0, 100) || 'videobot', auto_archive_duration: 1440 },
      })) as { id: string };
      return thread.id;
    } catch (err) {
      if (err instanceof DiscordAPIError && err.code === DiscordCodes.threadAlreadyCreated) return messageId;
      if (err instanceof DiscordAPIError && (err.status === 400 || err.status === 403 || err.status === 404)) return undefined;
      throw err;
    }
  }
}

/** A sentence for a Discord error on our own channel writes, for the person who asked. */
export function channelErrorText(err: unknown): string | undefined {
  if (!(err instanceof DiscordAPIError)) return undefined;
  if (err.code === DiscordCodes.missingAccess || err.code === DiscordCodes.missingPermissions || err.code === DiscordCodes.unknownChannel) {
    return 'I cannot post in this channel. Ask an admin to let the bot View Channel, Send Messages, Create Public Threads, Send Messages in Threads and Attach Files here.';
  }
  if (err.code === DiscordCodes.cannotSendInDm) return 'I cannot send you direct messages; use the command in a server channel instead.';
  return undefined;
}
