// Events: a message that mentions the bot (with or without an image) and a direct message to it.
import type { AllMiddlewareArgs, App, SlackEventMiddlewareArgs } from '@slack/bolt';
import { USAGE, parseVideoCommand } from '../../core/command.js';
import { UserFacingError } from '../../core/errors.js';
import {
  answering,
  conversationAt,
  downloadImage,
  pickImage,
  slackRequester,
  stripMentions,
  submitOnce,
  tellPrivately,
  type HandlerDeps,
  type SlackFile,
  type WebClient,
} from './context.js';

export function register(app: App, deps: HandlerDeps): void {
  app.event('app_mention', (args) => mention(args, deps));
  app.event('message', (args) => directMessage(args, deps));
}

/** The fields of a user's message we act on. */
interface IncomingMessage {
  readonly user: string;
  readonly channel: string;
  readonly ts: string;
  readonly thread_ts?: string;
  readonly text: string;
  readonly files?: readonly SlackFile[];
}

async function mention({ event, body, client }: SlackEventMiddlewareArgs<'app_mention'> & AllMiddlewareArgs, deps: HandlerDeps): Promise<void> {
  if (!event.user || event.bot_id) return;
  await handle(
    client,
    deps,
    { user: event.user, channel: event.channel, ts: event.ts, text: event.text, ...(event.thread_ts ? { thread_ts: event.thread_ts } : {}), ...(event.files ? { files: event.files as SlackFile[] } : {}) },
    // Replies go into the thread of the mention (or the thread it was written in).
    event.thread_ts ?? event.ts,
    `slack:event:${body.event_id}`,
  );
}

async function directMessage({ event, body, client }: SlackEventMiddlewareArgs<'message'> & AllMiddlewareArgs, deps: HandlerDeps): Promise<void> {
  const m = event as unknown as Partial<IncomingMessage> & { channel_type?: string; subtype?: string; bot_id?: string };
  if (m.channel_type !== 'im' || m.bot_id || !m.user || !m.channel || !m.ts) return;
  if (m.subtype !== undefined && m.subtype !== 'file_share') return; // edits, deletions, joins…
  await handle(
    client,
    deps,
    { user: m.user, channel: m.channel, ts: m.ts, text: m.text ?? '', ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}), ...(m.files ? { files: m.files } : {}) },
    m.thread_ts,
    `slack:event:${(body as { event_id?: string }).event_id ?? m.ts}`,
  );
}

async function handle(client: WebClient, deps: HandlerDeps, message: IncomingMessage, thread: string | undefined, requestKey: string): Promise<void> {
  const to = { channel: message.channel, user: message.user, ...(thread ? { thread } : {}) };
  const tell = (text: string) => tellPrivately(client, deps.log, to, text);
  const text = stripMentions(message.text);
  // A retried delivery must not download the image or answer twice either.
  if (!deps.claims.claim(`received:${requestKey}`)) return;
  await answering(deps.log, 'message handler', tell, async () => {
    const file = pickImage(message.files);
    if (!file && !text) {
      await tell(`Tell me what to make: \`${USAGE.replace('/video ', '')}\`, or attach an image and say how it should move.`);
      return;
    }
    const request = parseVideoCommand(text);
    if (!request.prompt) {
      throw new UserFacingError('INVALID_COMMAND', file ? 'Say how the image should move, e.g. "@videobot the waves roll in".' : 'Describe the video you want.');
    }
    const image = file ? await downloadImage(file, deps) : undefined;
    await submitOnce(deps, {
      requester: slackRequester(message.user),
      conversation: conversationAt({ channel: message.channel, ...(thread ? { thread } : {}) }),
      request,
      ...(image ? { image } : {}),
      requestKey,
    });
  });
}
