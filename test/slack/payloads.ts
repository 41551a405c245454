// Requests as Slack sends them: signed HTTP bodies (v0:timestamp:body, HMAC-SHA256) and the payload shapes
// of slash commands, block actions, view submissions, message shortcuts and Events API callbacks.
import { createHmac, randomUUID } from 'node:crypto';
import { TEAM_ID } from './fake-slack.js';

export function sign(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SendOptions {
  /** Seconds since the epoch; defaults to now. */
  readonly timestamp?: number;
  /** Signs with this secret instead of the right one. */
  readonly secret?: string;
  readonly retryNum?: number;
}

export interface SignedResponse {
  readonly status: number;
  readonly body: string;
}

/** Posts to the app's request URL the way Slack does. */
export class SlackSender {
  constructor(
    private readonly url: string,
    private readonly secret: string,
  ) {}

  async post(body: string, contentType: string, options: SendOptions = {}): Promise<SignedResponse> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': contentType,
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': sign(options.secret ?? this.secret, timestamp, body),
    };
    if (options.retryNum !== undefined) {
      headers['x-slack-retry-num'] = String(options.retryNum);
      headers['x-slack-retry-reason'] = 'http_timeout';
    }
    const res = await fetch(this.url, { method: 'POST', headers, body });
    return { status: res.status, body: await res.text() };
  }

  /** Slash commands and interactivity arrive form-encoded. */
  form(fields: Record<string, string>, options?: SendOptions): Promise<SignedResponse> {
    return this.post(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded', options);
  }

  /** Interactive payloads: one form field `payload` holding JSON. */
  interactive(payload: object, options?: SendOptions): Promise<SignedResponse> {
    return this.form({ payload: JSON.stringify(payload) }, options);
  }

  /** Events API callbacks arrive as JSON. */
  event(body: object, options?: SendOptions): Promise<SignedResponse> {
    return this.post(JSON.stringify(body), 'application/json', options);
  }
}

export interface Who {
  readonly user: string;
  readonly channel: string;
}

export function slashCommand(command: string, text: string, who: Who, responseUrl: string, triggerId = `${Date.now()}.${randomUUID()}`): Record<string, string> {
  return {
    token: 'legacy-verification-token',
    team_id: TEAM_ID,
    team_domain: 'fake',
    channel_id: who.channel,
    channel_name: 'general',
    user_id: who.user,
    user_name: who.user.toLowerCase(),
    command,
    text,
    api_app_id: 'A0FAKE',
    is_enterprise_install: 'false',
    response_url: responseUrl,
    trigger_id: triggerId,
  };
}

export function blockAction(
  actionId: string,
  value: string,
  who: Who,
  message: { ts: string; thread_ts?: string; text?: string },
  responseUrl: string,
  options: { ephemeral?: boolean } = {},
): object {
  return {
    type: 'block_actions',
    user: { id: who.user, username: who.user.toLowerCase(), name: who.user.toLowerCase(), team_id: TEAM_ID },
    api_app_id: 'A0FAKE',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: message.ts, channel_id: who.channel, is_ephemeral: options.ephemeral ?? false },
    trigger_id: `${Date.now()}.${randomUUID()}`,
    team: { id: TEAM_ID, domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: who.channel, name: 'general' },
    message: { type: 'message', user: 'U0VIDEOBOT', text: message.text ?? '', ...message },
    response_url: responseUrl,
    actions: [
      { action_id: actionId, block_id: 'b1', text: { type: 'plain_text', text: actionId, emoji: true }, value, type: 'button', action_ts: `${Date.now() / 1000}` },
    ],
  };
}

export function viewSubmission(view: { id: string; callback_id: string; private_metadata: string }, user: string, values: Record<string, Record<string, object>>): object {
  return {
    type: 'view_submission',
    team: { id: TEAM_ID, domain: 'fake' },
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: TEAM_ID },
    api_app_id: 'A0FAKE',
    token: 'legacy-verification-token',
    trigger_id: `${Date.now()}.${randomUUID()}`,
    view: {
      id: view.id,
      team_id: TEAM_ID,
      type: 'modal',
      callback_id: view.callback_id,
      private_metadata: view.private_metadata,
      state: { values },
      hash: randomUUID(),
      title: { type: 'plain_text', text: 'x' },
      blocks: [],
    },
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

export function messageShortcut(callbackId: string, who: Who, message: { ts: string; thread_ts?: string; text: string; user: string; files?: object[] }, responseUrl: string): object {
  return {
    type: 'message_action',
    callback_id: callbackId,
    trigger_id: `${Date.now()}.${randomUUID()}`,
    message_ts: message.ts,
    response_url: responseUrl,
    message: { type: 'message', ...message },
    user: { id: who.user, name: who.user.toLowerCase(), team_id: TEAM_ID },
    channel: { id: who.channel, name: 'general' },
    team: { id: TEAM_ID, domain: 'fake' },
    token: 'legacy-verification-token',
    action_ts: `${Date.now() / 1000}`,
    is_enterprise_install: false,
  };
}

export function eventCallback(event: Record<string, unknown>, eventId = `Ev${randomUUID().slice(0, 8).toUpperCase()}`): Record<string, unknown> {
  return {
    token: 'legacy-verification-token',
    team_id: TEAM_ID,
    api_app_id: 'A0FAKE',
    event: { event_ts: event.ts, ...event },
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: TEAM_ID, user_id: 'U0VIDEOBOT', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
  };
}

/** A PNG header (signature + IHDR) of the given size: enough for the bot's magic-byte and pixel checks. */
export function pngHeader(width: number, height: number): Uint8Array {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'ascii');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.writeUInt8(8, 24); // bit depth
  b.writeUInt8(2, 25); // colour type RGB
  return new Uint8Array(b);
}
