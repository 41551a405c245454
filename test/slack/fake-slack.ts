// A loopback fake of the Slack platform, written from Slack's public docs, for driving the real Bolt app:
// - Web API methods (form or JSON bodies, Bearer token) with the documented response shapes;
// - the external upload flow (files.getUploadURLExternal → POST bytes to upload_url → files.completeUploadExternal),
//   which shares the file in the channel (and thread) as a message by the bot carrying `files`;
// - conversations.replies: the thread's parent, then its replies oldest first, `limit`/`cursor` pages, and message
//   `metadata` (stored from chat.postMessage / chat.update) only with include_all_metadata;
// - url_private_download files that need the bot token (an HTML login page otherwise, as Slack does);
// - response_url endpoints; a 429 with Retry-After on demand;
// - Socket Mode: apps.connections.open returns a ws:// URL; the socket says `hello`, delivers envelopes
//   and expects `{ envelope_id, payload? }` acknowledgements.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface ApiCall {
  readonly method: string;
  readonly args: Record<string, any>;
  readonly token: string | undefined;
  readonly at: number;
  readonly rateLimited: boolean;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text?: string;
  blocks?: any[];
  user?: string;
  bot_id?: string;
  files?: { id: string; name: string; title: string; mimetype: string; size: number }[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

export interface Upload {
  readonly fileId: string;
  readonly filename: string;
  readonly length: number;
  bytes?: Buffer;
  completed?: { channel_id?: string; thread_ts?: string; initial_comment?: string; title?: string; at: number };
}

export interface SlackFileObject {
  id: string;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  size: number;
  url_private: string;
  url_private_download: string;
}

export interface SocketAck {
  readonly envelope_id: string;
  readonly payload?: any;
}

export const BOT_USER_ID = 'U0VIDEOBOT';
export const BOT_ID = 'B0VIDEOBOT';
export const TEAM_ID = 'T0FAKE';

/** Methods answered with `{ ok: true, ... }` and what they add. */
type MethodHandler = (args: Record<string, any>, call: { token: string | undefined }) => Record<string, unknown>;

export class FakeSlack {
  readonly calls: ApiCall[] = [];
  readonly messages = new Map<string, StoredMessage>();
  readonly uploads = new Map<string, Upload>();
  /** Bodies POSTed to response_url endpoints, by id. */
  readonly responses: { id: string; body: any; at: number }[] = [];
  /** Envelope acks received over Socket Mode. */
  readonly acks: SocketAck[] = [];
  /** The bot token's scopes, sent with every answer to it as the x-oauth-scopes header (as Slack does). */
  scopes: string[] = ['app_mentions:read', 'channels:history', 'chat:write', 'commands', 'files:read', 'files:write', 'groups:history', 'im:history', 'mpim:history'];
  /** Channels where chat.postMessage answers not_in_channel. */
  readonly notInChannel = new Set<string>();

  private readonly files = new Map<string, { bytes: Buffer; contentType: string; alwaysHtml: boolean }>();
  private readonly redirects = new Map<string, string>();
  private readonly rateLimits = new Map<string, number[]>();
  private readonly failures = new Map<string, string[]>();
  private readonly held = new Map<string, (() => void)[]>();
  private readonly waitingAcks = new Map<string, (ack: SocketAck) => void>();
  private readonly sockets = new Set<WebSocket>();
  private readonly wss = new WebSocketServer({ noServer: true });
  private ts = 1_700_000_000;
  private ids = 0;

  private constructor(
    private readonly server: Server,
    readonly botToken: string,
    readonly appToken: string,
  ) {}

  static async start(options: { botToken: string; appToken: string }): Promise<FakeSlack> {
    const server = createServer();
    const fake = new FakeSlack(server, options.botToken, options.appToken);
    server.on('request', (req, res) => void fake.route(req, res));
    server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/link')) return socket.destroy();
      fake.wss.handleUpgrade(req, socket, head, (ws) => fake.onSocket(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get base(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** What SLACK_API_URL is set to. */
  get apiUrl(): string {
    return `${this.base}/api/`;
  }

  responseUrl(id: string = randomUUID()): string {
    return `${this.base}/respond/${id}`;
  }

  callsTo(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method && !c.rateLimited);
  }

  /**
   * Holds every later call of `method` unanswered (a Web API slow to answer, as under load) until the returned
   * function is called; then answers the held calls in order, and later ones at once.
   */
  hold(method: string): () => void {
    const held: (() => void)[] = [];
    this.held.set(method, held);
    return () => {
      this.held.delete(method);
      for (const answer of held.splice(0)) answer();
    };
  }

  /** How many calls of `method` are being held (see hold). */
  heldCount(method: string): number {
    return this.held.get(method)?.length ?? 0;
  }

  /** The next call of `method` answers `{ ok: false, error }` (as Slack does for a refused call). */
  failNext(method: string, error: string): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), error]);
  }

  /** The next call of `method` answers HTTP 429 with `Retry-After: seconds`. */
  rateLimitNext(method: string, seconds: number): void {
    this.rateLimits.set(method, [...(this.rateLimits.get(method) ?? []), seconds]);
  }

  /** A file as Slack describes it in events and shortcuts; its url_private_download needs the bot token. */
  addFile(name: string, bytes: Uint8Array, mimetype: string, options: { alwaysHtml?: boolean } = {}): SlackFileObject {
    const id = `F${String(++this.ids).padStart(8, '0')}`;
    this.files.set(id, { bytes: Buffer.from(bytes), contentType: mimetype, alwaysHtml: options.alwaysHtml ?? false });
    const url = `${this.base}/files-pri/${TEAM_ID}-${id}/download/${encodeURIComponent(name)}`;
    return {
      id,
      name,
      title: name,
      mimetype,
      filetype: name.split('.').pop() ?? '',
      size: bytes.length,
      url_private: url.replace('/download/', '/'),
      url_private_download: url,
    };
  }

  /** A file whose download URL answers 302 to `location` (Slack redirects some file URLs, e.g. to sign-in). */
  addRedirectingFile(name: string, mimetype: string, location: string): SlackFileObject {
    const id = `F${String(++this.ids).padStart(8, '0')}`;
    this.redirects.set(id, location);
    const url = `${this.base}/files-redirect/${id}/${encodeURIComponent(name)}`;
    return { id, name, title: name, mimetype, filetype: name.split('.').pop() ?? '', size: 100, url_private: url, url_private_download: url };
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- Socket Mode ----------------------------------------------------------------------------

  get socketCount(): number {
    return [...this.sockets].filter((s) => s.readyState === s.OPEN).length;
  }

  /** Sends one envelope to the connected app and resolves with its acknowledgement. */
  deliver(type: 'slash_commands' | 'interactive' | 'events_api', payload: object, timeoutMs = 5000): Promise<SocketAck> {
    const socket = [...this.sockets].find((s) => s.readyState === s.OPEN);
    if (!socket) return Promise.reject(new Error('no Socket Mode connection'));
    const envelope_id = randomUUID();
    const envelope = {
      envelope_id,
      type,
      payload,
      accepts_response_payload: type !== 'events_api',
      ...(type === 'events_api' ? { retry_attempt: 0, retry_reason: '' } : {}),
    };
    return new Promise<SocketAck>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for envelope ${envelope_id}`)), timeoutMs);
      this.waitingAcks.set(envelope_id, (ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
      socket.send(JSON.stringify(envelope));
    });
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('message', (data) => {
      const ack = JSON.parse(data.toString()) as SocketAck;
      this.acks.push(ack);
      this.waitingAcks.get(ack.envelope_id)?.(ack);
      this.waitingAcks.delete(ack.envelope_id);
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake-slack', approximate_connection_time: 18060 }, connection_info: { app_id: 'A0FAKE' } }));
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = new URL(req.url ?? '/', this.base).pathname;
    if (req.method === 'POST' && path.startsWith('/api/')) return this.api(path.slice(5), req, body, res);
    if (req.method === 'POST' && path.startsWith('/upload/')) return this.receiveUpload(path.slice(8), req.headers['content-type'] ?? '', body, res);
    if (req.method === 'POST' && path.startsWith('/respond/')) {
      this.responses.push({ id: path.slice(9), body: JSON.parse(body.toString() || '{}'), at: Date.now() });
      return send(res, 200, 'ok', 'text/plain');
    }
    if (req.method === 'GET' && path.startsWith('/files-pri/')) return this.serveFile(path, req, res);
    if (req.method === 'GET' && path.startsWith('/files-redirect/')) {
      const location = this.redirects.get(path.split('/')[2] ?? '');
      if (!location) return send(res, 404, 'not found', 'text/plain');
      res.writeHead(302, { location });
      res.end();
      return;
    }
    send(res, 404, 'not found', 'text/plain');
  }

  private serveFile(path: string, req: IncomingMessage, res: ServerResponse): void {
    const id = path.split('/')[2]?.split('-')[1] ?? '';
    const file = this.files.get(id);
    const authorised = req.headers.authorization === `Bearer ${this.botToken}`;
    // Without a valid token (or when the bot cannot see the file) Slack serves its sign-in page.
    if (!file || !authorised || file.alwaysHtml) {
      return send(res, 200, '<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to your workspace</body></html>', 'text/html; charset=utf-8');
    }
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length });
    res.end(file.bytes);
  }

  /** The upload URL takes the raw bytes or a multipart form with one file part, as Slack documents. */
  private receiveUpload(fileId: string, contentType: string, body: Buffer, res: ServerResponse): void {
    const upload = this.uploads.get(fileId);
    if (!upload) return send(res, 404, 'unknown upload', 'text/plain');
    const boundary = /multipart\/form-data;.*boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
    upload.bytes = boundary ? multipartFile(body, boundary[1] ?? boundary[2]!) : body;
    send(res, 200, `OK - ${body.length}`, 'text/plain');
  }

  private api(method: string, req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    const held = this.held.get(method);
    if (held) {
      held.push(() => this.answer(method, req, raw, res));
      return;
    }
    this.answer(method, req, raw, res);
  }

  private answer(method: string, req: IncomingMessage, raw: Buffer, res: ServerResponse): void {
    const args = parseArgs(req.headers['content-type'] ?? '', raw);
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || (args.token as string | undefined);
    const limited = this.rateLimits.get(method);
    if (limited && limited.length > 0) {
      const seconds = limited.shift()!;
      this.calls.push({ method, args, token, at: Date.now(), rateLimited: true });
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(seconds) });
      res.end(JSON.stringify({ ok: false, error: 'ratelimited' }));
      return;
    }
    this.calls.push({ method, args, token, at: Date.now(), rateLimited: false });
    const expected = method === 'apps.connections.open' ? this.appToken : this.botToken;
    if (token !== expected) return json(res, { ok: false, error: token ? 'invalid_auth' : 'not_authed' });
    if (token === this.botToken) res.setHeader('x-oauth-scopes', this.scopes.join(','));
    const handler = this.methods[method];
    if (!handler) return json(res, { ok: false, error: 'unknown_method' });
    const failure = this.failures.get(method)?.shift();
    if (failure) return json(res, { ok: false, error: failure });
    try {
      json(res, { ok: true, ...handler(args, { token }) });
    } catch (err) {
      json(res, { ok: false, error: (err as Error).message });
    }
  }

  private nextTs(): string {
    return `${++this.ts}.000100`;
  }

  private readonly methods: Record<string, MethodHandler> = {
    'auth.test': () => ({ url: 'https://fake.slack.test/', team: 'Fake', user: 'videobot', team_id: TEAM_ID, user_id: BOT_USER_ID, bot_id: BOT_ID, is_enterprise_install: false }),
    'apps.connections.open': () => ({ url: `${this.base.replace('http', 'ws')}/link/?ticket=${randomUUID()}&app_id=A0FAKE` }),
    'chat.postMessage': (a) => {
      if (!a.channel) throw new Error('channel_not_found');
      if (this.notInChannel.has(a.channel)) throw new Error('not_in_channel');
      if (!a.text && !a.blocks) throw new Error('no_text');
      const message: StoredMessage = {
        channel: a.channel,
        ts: this.nextTs(),
        text: a.text,
        blocks: a.blocks,
        user: BOT_USER_ID,
        bot_id: BOT_ID,
        ...(a.thread_ts ? { thread_ts: a.thread_ts } : {}),
        ...(a.metadata ? { metadata: a.metadata } : {}),
      };
      this.messages.set(message.ts, message);
      return { channel: a.channel, ts: message.ts, message: { type: 'message', user: BOT_USER_ID, bot_id: BOT_ID, ...message } };
    },
    'chat.update': (a) => {
      const message = this.messages.get(a.ts);
      if (!message || message.channel !== a.channel) throw new Error('message_not_found');
      message.text = a.text;
      message.blocks = a.blocks;
      if (a.metadata) message.metadata = a.metadata;
      return { channel: a.channel, ts: a.ts, text: a.text, message: { type: 'message', user: BOT_USER_ID, ...message } };
    },
    'chat.delete': (a) => {
      if (!this.messages.delete(a.ts)) throw new Error('message_not_found');
      return { channel: a.channel, ts: a.ts };
    },
    'chat.postEphemeral': (a) => {
      if (!a.channel || !a.user) throw new Error('invalid_arguments');
      if (this.notInChannel.has(a.channel)) throw new Error('channel_not_found');
      return { message_ts: this.nextTs() };
    },
    'views.open': (a) => {
      if (!a.trigger_id) throw new Error('invalid_trigger_id');
      return { view: { id: `V${String(++this.ids).padStart(8, '0')}`, team_id: TEAM_ID, ...a.view, state: { values: {} }, hash: randomUUID() } };
    },
    'files.getUploadURLExternal': (a) => {
      if (!a.filename || !a.length) throw new Error('invalid_arguments');
      const fileId = `F${String(++this.ids).padStart(8, '0')}`;
      this.uploads.set(fileId, { fileId, filename: a.filename, length: Number(a.length) });
      return { upload_url: `${this.base}/upload/${fileId}`, file_id: fileId };
    },
    'files.completeUploadExternal': (a) => {
      const files = a.files as { id: string; title?: string }[];
      const done = files.map((f) => {
        const upload = this.uploads.get(f.id);
        if (!upload?.bytes) throw new Error('file_not_found');
        upload.completed = { channel_id: a.channel_id, thread_ts: a.thread_ts, initial_comment: a.initial_comment, title: f.title, at: Date.now() };
        return { id: f.id, name: upload.filename, title: f.title ?? upload.filename, mimetype: 'video/mp4', size: upload.bytes.length };
      });
      if (a.channel_id) {
        const shared: StoredMessage = {
          channel: a.channel_id,
          ts: this.nextTs(),
          text: a.initial_comment ?? '',
          user: BOT_USER_ID,
          bot_id: BOT_ID,
          files: done,
          ...(a.thread_ts ? { thread_ts: a.thread_ts } : {}),
        };
        this.messages.set(shared.ts, shared);
      }
      return { files: done };
    },
    'conversations.replies': (a) => {
      if (!a.channel) throw new Error('channel_not_found');
      const parent = this.messages.get(a.ts);
      if (!parent || parent.channel !== a.channel) throw new Error('thread_not_found');
      const thread = [...this.messages.values()]
        .filter((m) => m.channel === a.channel && (m.ts === a.ts || m.thread_ts === a.ts))
        .sort((x, y) => Number(x.ts) - Number(y.ts));
      const limit = Math.min(1000, Math.max(1, Number(a.limit ?? 1000)));
      const start = a.cursor ? Number(Buffer.from(String(a.cursor), 'base64').toString('utf8').replace('offset:', '')) : 0;
      const page = thread.slice(start, start + limit);
      const more = start + limit < thread.length;
      const withMetadata = a.include_all_metadata === true || a.include_all_metadata === 'true';
      return {
        messages: page.map(({ channel: _channel, metadata, ...m }) => ({ type: 'message', ...m, ...(withMetadata && metadata ? { metadata } : {}) })),
        has_more: more,
        response_metadata: { next_cursor: more ? Buffer.from(`offset:${start + limit}`).toString('base64') : '' },
      };
    },
  };
}

/** The content of the first part with a filename in a multipart/form-data body. */
function multipartFile(body: Buffer, boundary: string): Buffer {
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const next = body.indexOf(delimiter, start + delimiter.length);
    if (next < 0) break;
    const part = body.subarray(start + delimiter.length + 2, next - 2); // skip CRLF after the delimiter, and before the next
    const split = part.indexOf('\r\n\r\n');
    if (split >= 0 && /filename=/i.test(part.subarray(0, split).toString('latin1'))) return Buffer.from(part.subarray(split + 4));
    start = next;
  }
  throw new Error('no file part in the multipart upload');
}

function parseArgs(contentType: string, raw: Buffer): Record<string, any> {
  const text = raw.toString('utf8');
  if (contentType.includes('application/json')) return text ? (JSON.parse(text) as Record<string, any>) : {};
  const args: Record<string, any> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    // The Web API client form-encodes nested values as JSON strings.
    args[k] = /^[[{]/.test(v) ? tryJson(v) : v;
  }
  return args;
}

function tryJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, body: unknown): void {
  send(res, 200, JSON.stringify(body), 'application/json; charset=utf-8');
}

function send(res: ServerResponse, status: number, body: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType });
  res.end(body);
}
