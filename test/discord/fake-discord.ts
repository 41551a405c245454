// A loopback fake of Discord's REST API (v10) and gateway, written from Discord's public docs, for driving the real discord.js.
// REST: GET /gateway/bot, interaction callbacks (types 4, 5, 6, 7, 9), webhook follow-ups and @original edits that fail
// with 50027 after 15 simulated minutes, channel messages (JSON and multipart; `nonce` with `enforce_nonce` returns the
// author's earlier message with that nonce for a few simulated minutes instead of creating one), GET channel messages
// (newest first, `limit`), GET /users/@me, threads, command registration, 429s.
// Gateway: HELLO (op 10) → IDENTIFY (op 2) → READY; heartbeats (op 1 → op 11); INTERACTION_CREATE dispatches. Plain JSON only.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface StoredFile {
  readonly field: string;
  readonly name: string;
  readonly contentType: string;
  readonly bytes: Uint8Array;
}

export interface RecordedCall {
  readonly seq: number;
  readonly method: string;
  /** Path without /api/v10. */
  readonly path: string;
  readonly query: string;
  readonly auth: string | undefined;
  readonly body: any;
  readonly files: StoredFile[];
  status: number;
  /** Real time the request arrived and was answered (ms since epoch). */
  readonly receivedAt: number;
  answeredAt: number;
}

export interface FakeMessage {
  id: string;
  channel_id: string;
  content: string;
  embeds: any[];
  components: any[];
  attachments: { id: string; filename: string; size: number; url: string; proxy_url: string; content_type: string }[];
  flags: number;
  message_reference?: any;
  webhook_id?: string;
  edits: number;
  deleted: boolean;
  /** Uploaded bytes by file name. */
  files: StoredFile[];
}

export interface FakeUser {
  readonly id: string;
  readonly username: string;
  readonly global_name: string | null;
}

interface FakeInteraction {
  readonly id: string;
  readonly token: string;
  readonly type: number;
  readonly channelId: string;
  /** Simulated time at creation; the token dies 15 simulated minutes later. */
  readonly createdAt: number;
  /** Real time of dispatch; the 3-second acknowledgement window is real. */
  readonly dispatchedAt: number;
  /** The message a component or modal came from. */
  readonly sourceMessageId?: string;
  callback?: { type: number; data?: any };
  originalId?: string;
}

interface Rule {
  readonly method: string;
  readonly path: RegExp;
  remaining: number;
  readonly respond: () => { status: number; body: unknown; headers?: Record<string, string> };
}

export const TOKEN_LIFETIME_MS = 15 * 60 * 1000;
/**
 * How long Discord remembers a nonce under enforce_nonce: "checked for uniqueness in the past few minutes" (Create
 * Message, `enforce_nonce`). Five simulated minutes here; tests that mean "after the window" advance past it.
 */
export const NONCE_WINDOW_MS = 5 * 60 * 1000;
const ACK_WINDOW_MS = 3000;

export interface SlashOption {
  readonly name: string;
  readonly type: number;
  readonly value?: unknown;
  readonly options?: readonly SlashOption[];
}

export class FakeDiscord {
  readonly botUser: FakeUser = { id: '900000000000000001', username: 'videobot', global_name: null };
  readonly applicationId = '900000000000000002';
  readonly guildId = '900000000000000003';
  readonly channelId = '900000000000000004';
  /** Simulated wall clock: only interaction-token expiry reads it. */
  now = Date.UTC(2026, 10, 21, 12, 0, 0);
  readonly calls: RecordedCall[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly threads = new Map<string, { id: string; parent_id: string; name: string }>();
  /** Channels where creating a thread fails (as in DMs or without Create Public Threads). */
  readonly noThreadChannels = new Set<string>();
  readonly interactions = new Map<string, FakeInteraction>();
  readonly commands = new Map<string, any[]>();
  identify: any;
  private readonly cdn = new Map<string, { bytes: Uint8Array; contentType: string }>();
  /**
   * Discord's 3 s to answer an interaction. A test that is about something else may widen it: fifty interactions at
   * once can take longer than that to defer on a loaded two-core test machine.
   */
  ackWindowMs = ACK_WINDOW_MS;
  private readonly rules: Rule[] = [];
  private readonly holds: { method: string; path: RegExp; waiting: (() => void)[] }[] = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly payloads = new Map<string, unknown>();
  /** enforce_nonce memory: "<author>:<nonce>" → the message created and the simulated time it was. */
  private readonly nonces = new Map<string, { messageId: string; at: number }>();
  private nextId = 1_300_000_000_000_000_000n;
  private seq = 0;
  private callSeq = 0;

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
  ) {}

  static async start(): Promise<FakeDiscord> {
    const server = createServer();
    const wss = new WebSocketServer({ noServer: true });
    const fake = new FakeDiscord(server, wss);
    server.on('request', (req, res) => void fake.handle(req, res));
    server.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => fake.onGateway(ws, req));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** What DISCORD_API_URL would be (discord.js appends /v10). */
  get apiUrl(): string {
    return `${this.baseUrl}/api`;
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  advance(ms: number): void {
    this.now += ms;
  }

  snowflake(): string {
    return String(this.nextId++);
  }

  /** Serves bytes on the fake CDN; returns the attachment object Discord would put in `resolved.attachments`. */
  hostAttachment(filename: string, bytes: Uint8Array, contentType: string) {
    const id = this.snowflake();
    const url = `${this.baseUrl}/cdn/attachments/${id}/${filename}`;
    this.cdn.set(`/cdn/attachments/${id}/${filename}`, { bytes, contentType });
    return { id, filename, size: bytes.length, url, proxy_url: url, content_type: contentType, ephemeral: true };
  }

  /** The next `times` requests matching method and path get a 429 with `retry_after` (body) and Retry-After (header). */
  rateLimit(method: string, path: RegExp, retryAfterS: number, times = 1): void {
    this.rules.push({
      method,
      path,
      remaining: times,
      respond: () => ({
        status: 429,
        body: { message: 'You are being rate limited.', retry_after: retryAfterS, global: false },
        headers: {
          'retry-after': String(retryAfterS),
          'x-ratelimit-limit': '5',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset-after': String(retryAfterS),
          'x-ratelimit-scope': 'user',
        },
      }),
    });
  }

  /**
   * Holds every later request matching method and path unanswered (an API slow to answer, as under load) until the
   * returned function is called; then answers the held requests in order, and later ones at once.
   */
  hold(method: string, path: RegExp): () => void {
    const hold = { method, path, waiting: [] as (() => void)[] };
    this.holds.push(hold);
    return () => {
      this.holds.splice(this.holds.indexOf(hold), 1);
      for (const answer of hold.waiting.splice(0)) answer();
    };
  }

  /** How many requests are being held (see hold). */
  heldCount(): number {
    return this.holds.reduce((n, h) => n + h.waiting.length, 0);
  }

  /** The next `times` requests matching fail with a Discord JSON error. */
  failNext(method: string, path: RegExp, status: number, code: number, message: string, times = 1): void {
    this.rules.push({ method, path, remaining: times, respond: () => ({ status, body: { code, message } }) });
  }

  // ---- interactions -------------------------------------------------------------------------------------------------

  /**
   * `options` as Discord nests them (a subcommand group holds subcommands, which hold options); `users` are the users
   * that USER options (type 6) name, sent in `resolved.users` with their value being the id.
   */
  slashCommand(name: string, options: SlashOption[], opts: DispatchOptions & { attachments?: any[]; users?: any[] } = {}): Promise<string> {
    const resolved =
      opts.attachments?.length || opts.users?.length
        ? {
            ...(opts.attachments?.length ? { attachments: Object.fromEntries(opts.attachments.map((a) => [a.id, a])) } : {}),
            ...(opts.users?.length ? { users: Object.fromEntries(opts.users.map((u) => [u.id, { discriminator: '0', avatar: null, ...u }])) } : {}),
          }
        : undefined;
    return this.dispatch(2, { id: this.snowflake(), name, type: 1, options, ...(resolved ? { resolved } : {}) }, opts);
  }

  messageCommand(name: string, target: FakeMessage | any, opts: DispatchOptions = {}): Promise<string> {
    const message = 'edits' in target ? this.apiMessage(target) : target;
    return this.dispatch(2, { id: this.snowflake(), name, type: 3, target_id: message.id, resolved: { messages: { [message.id]: message } } }, opts);
  }

  clickButton(message: FakeMessage, customId: string, opts: DispatchOptions = {}): Promise<string> {
    return this.dispatch(3, { custom_id: customId, component_type: 2 }, { ...opts, message });
  }

  /**
   * Submits the modal an earlier interaction answered with (callback type 9), filling its text inputs and, for File
   * Upload components, the files (attachments from hostAttachment) by custom id: as Discord does, a File Upload
   * answers with the attachments' ids in `values`, and the attachments come in `resolved.attachments`.
   */
  submitModal(fromInteractionId: string, values: Record<string, string>, opts: DispatchOptions & { files?: Record<string, any[]> } = {}): Promise<string> {
    const modal = this.modalOf(fromInteractionId);
    const source = this.interactions.get(fromInteractionId)!;
    const uploaded: any[] = [];
    const answer = (c: any) => {
      if (c.type !== 19) return { type: c.type, custom_id: c.custom_id, value: values[c.custom_id] ?? c.value ?? '' };
      const files = opts.files?.[c.custom_id] ?? [];
      uploaded.push(...files);
      return { type: 19, custom_id: c.custom_id, values: files.map((f) => f.id) };
    };
    const components = modal.components.map((row: any) =>
      row.type === 1 ? { type: 1, components: row.components.map(answer) } : { type: row.type, component: answer(row.component) },
    );
    const message = source.sourceMessageId ? this.messages.get(source.sourceMessageId) : undefined;
    const resolved = uploaded.length > 0 ? { resolved: { attachments: Object.fromEntries(uploaded.map((a) => [a.id, a])) } } : {};
    return this.dispatch(5, { custom_id: modal.custom_id, components, ...resolved }, { ...opts, ...(message ? { message } : {}) });
  }

  modalOf(interactionId: string): any {
    const cb = this.interactions.get(interactionId)?.callback;
    if (cb?.type !== 9) throw new Error(`interaction ${interactionId} was not answered with a modal (got ${cb?.type})`);
    return cb.data;
  }

  callbackOf(interactionId: string): { type: number; data?: any } | undefined {
    return this.interactions.get(interactionId)?.callback;
  }

  /** The interaction's own reply (deferred, then edited through the webhook). */
  originalOf(interactionId: string): FakeMessage | undefined {
    const id = this.interactions.get(interactionId)?.originalId;
    return id ? this.messages.get(id) : undefined;
  }

  channelMessages(channelId: string): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.channel_id === channelId && !m.deleted && !m.webhook_id);
  }

  private async dispatch(type: number, data: any, opts: DispatchOptions & { message?: FakeMessage }): Promise<string> {
    const user = opts.user ?? ALICE;
    const channelId = opts.channelId ?? opts.message?.channel_id ?? this.channelId;
    const id = this.snowflake();
    const token = `itoken-${id}-${Math.random().toString(36).slice(2)}`;
    this.interactions.set(id, {
      id,
      token,
      type,
      channelId,
      createdAt: this.now,
      dispatchedAt: Date.now(),
      ...(opts.message ? { sourceMessageId: opts.message.id } : {}),
    });
    const payload = {
      id,
      application_id: this.applicationId,
      type,
      token,
      version: 1,
      guild_id: this.guildId,
      guild: { id: this.guildId, locale: 'en-US', features: [] },
      channel_id: channelId,
      channel: { id: channelId, type: 0, guild_id: this.guildId, name: 'general', nsfw: false, parent_id: null, position: 0, flags: 0, topic: null, last_message_id: null, rate_limit_per_user: 0, permissions: '2248473465835073' },
      member: {
        user: { ...user, discriminator: '0', avatar: null },
        roles: [],
        joined_at: new Date(this.now - 86_400_000).toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
        pending: false,
        nick: null,
        avatar: null,
        premium_since: null,
        communication_disabled_until: null,
        permissions: '2248473465835073',
      },
      app_permissions: opts.appPermissions ?? '2248473465835073',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      attachment_size_limit: opts.attachmentSizeLimit ?? 10 * 1024 * 1024,
      data,
      ...(opts.message ? { message: this.apiMessage(opts.message) } : {}),
    };
    this.payloads.set(id, payload);
    this.send({ op: 0, t: 'INTERACTION_CREATE', s: ++this.seq, d: payload });
    return id;
  }

  /** Sends the same INTERACTION_CREATE again, as a gateway replay after a resume would. */
  redispatch(interactionId: string): void {
    this.send({ op: 0, t: 'INTERACTION_CREATE', s: ++this.seq, d: this.payloads.get(interactionId) });
  }

  private send(payload: unknown): void {
    const text = JSON.stringify(payload);
    for (const ws of this.sockets) ws.send(text);
  }

  // ---- gateway ------------------------------------------------------------------------------------------------------

  private onGateway(ws: WebSocket, req: IncomingMessage): void {
    const params = new URL(req.url ?? '/', this.baseUrl).searchParams;
    if (params.get('encoding') !== 'json' || params.has('compress')) {
      // Discord would speak ETF or zlib-stream here; this fake speaks plain JSON only.
      ws.close(4000, `fake gateway needs encoding=json without compress; got ${req.url}`);
      return;
    }
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null }));
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { op: number; d: any };
      if (msg.op === 1) ws.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      else if (msg.op === 2) {
        this.identify = msg.d;
        ws.send(
          JSON.stringify({
            op: 0,
            t: 'READY',
            s: ++this.seq,
            d: {
              v: 10,
              user: { ...this.botUser, discriminator: '0', avatar: null, bot: true, verified: true, flags: 0, mfa_enabled: false },
              guilds: [],
              session_id: `session-${this.snowflake()}`,
              resume_gateway_url: this.baseUrl.replace('http', 'ws'),
              shard: [0, 1],
              application: { id: this.applicationId, flags: 0 },
            },
          }),
        );
      } else if (msg.op === 6) ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
    });
  }

  // ---- REST ---------------------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const path = decodeURIComponent(url.pathname).replace(/^\/api(\/v\d+)?/, '');
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const { body, files } = await parseBody(raw, req.headers['content-type']);
    const call: RecordedCall = {
      seq: ++this.callSeq,
      method,
      path,
      query: url.search,
      auth: req.headers.authorization,
      body,
      files,
      status: 0,
      receivedAt: Date.now(),
      answeredAt: 0,
    };
    if (!path.startsWith('/cdn/')) this.calls.push(call);
    const reply = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      call.answeredAt = Date.now();
      res.writeHead(status, { ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
      res.end(json === undefined ? undefined : JSON.stringify(json));
    };
    if (path.startsWith('/cdn/')) {
      const file = this.cdn.get(path);
      res.writeHead(file ? 200 : 404, { 'content-type': file?.contentType ?? 'text/plain' });
      res.end(file ? Buffer.from(file.bytes) : 'Not Found');
      return;
    }
    const hold = this.holds.find((h) => h.method === method && h.path.test(path));
    if (hold) await new Promise<void>((resume) => hold.waiting.push(resume));
    const rule = this.rules.find((r) => r.remaining > 0 && r.method === method && r.path.test(path));
    if (rule) {
      rule.remaining--;
      const r = rule.respond();
      return reply(r.status, r.body, r.headers);
    }
    try {
      const [status, json] = this.route(method, path, call);
      reply(status, json);
    } catch (err) {
      reply(500, { message: String(err), code: 0 });
    }
  }

  private route(method: string, path: string, call: RecordedCall): [number, unknown?] {
    let m: RegExpMatchArray | null;
    const botAuth = call.auth === `Bot ${TOKEN}`;
    if ((m = path.match(/^\/interactions\/(\d+)\/([^/]+)\/callback$/)) && method === 'POST') {
      const it = this.interactions.get(m[1]!);
      if (!it || it.token !== m[2]) return [404, { message: 'Unknown interaction', code: 10062 }];
      if (it.callback) return [400, { message: 'Interaction has already been acknowledged.', code: 40060 }];
      if (Date.now() - it.dispatchedAt > this.ackWindowMs) return [404, { message: 'Unknown interaction', code: 10062 }];
      const cb = call.body as { type: number; data?: any };
      const problem = cb.type === 9 ? modalProblem(cb.data) : undefined;
      if (problem) return [400, { message: 'Invalid Form Body', code: 50035, errors: { data: { components: { _errors: [{ code: 'COMPONENT_INVALID', message: problem }] } } } }];
      it.callback = cb;
      if (cb.type === 4 || cb.type === 5) {
        const msg = this.createMessage(it.channelId, cb.data ?? {}, [], this.applicationId);
        it.originalId = msg.id;
      } else if (cb.type === 6 || cb.type === 7) {
        it.originalId = it.sourceMessageId;
        if (cb.type === 7 && it.sourceMessageId) this.editMessage(it.sourceMessageId, cb.data ?? {});
      }
      return [204];
    }
    if ((m = path.match(/^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/([^/]+))?$/))) {
      const it = [...this.interactions.values()].find((i) => i.token === m![2]);
      if (!it || m[1] !== this.applicationId) return [404, { message: 'Unknown Webhook', code: 10015 }];
      if (this.now - it.createdAt >= TOKEN_LIFETIME_MS) return [401, { message: 'Invalid Webhook Token', code: 50027 }];
      const target = m[3] === '@original' ? it.originalId : m[3];
      if (method === 'POST' && !m[3]) return [200, this.apiMessage(this.createMessage(it.channelId, call.body ?? {}, call.files, this.applicationId))];
      if (!target || !this.messages.has(target)) return [404, { message: 'Unknown Message', code: 10008 }];
      if (method === 'PATCH') return [200, this.apiMessage(this.editMessage(target, call.body ?? {}, call.files))];
      if (method === 'GET') return [200, this.apiMessage(this.messages.get(target)!)];
      if (method === 'DELETE') {
        this.messages.get(target)!.deleted = true;
        return [204];
      }
    }
    if (!botAuth) return [401, { message: '401: Unauthorized', code: 0 }];
    if (path === '/gateway/bot' && method === 'GET') {
      return [200, { url: this.baseUrl.replace('http', 'ws'), shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 } }];
    }
    if (path === '/applications/@me' && method === 'GET') return [200, { id: this.applicationId, name: 'videobot', bot_public: true, flags: 0 }];
    if ((m = path.match(/^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/)) && method === 'PUT') {
      const badTypes = (call.body as any[]).flatMap((c) => c.options ?? []).map((o: any) => (o.file_types === undefined ? undefined : fileTypesProblem(o.file_types, o.type === 11))).find(Boolean);
      if (badTypes) return [400, { message: 'Invalid Form Body', code: 50035, errors: { options: { _errors: [{ code: 'BASE_TYPE_BAD', message: badTypes }] } } }];
      const list = (call.body as any[]).map((c) => ({ ...c, id: this.snowflake(), application_id: m![1], version: this.snowflake(), ...(m![2] ? { guild_id: m![2] } : {}) }));
      this.commands.set(m[2] ? `guild:${m[2]}` : 'global', list);
      return [200, list];
    }
    if (path === '/users/@me' && method === 'GET') return [200, { ...this.botUser, discriminator: '0', avatar: null, bot: true, verified: true, flags: 0 }];
    if ((m = path.match(/^\/channels\/(\d+)\/messages$/)) && method === 'POST') {
      const body = call.body ?? {};
      if (body.nonce !== undefined && String(body.nonce).length > 25) {
        return [400, { message: 'Invalid Form Body', code: 50035, errors: { nonce: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' }] } } }];
      }
      const key = body.enforce_nonce && body.nonce !== undefined ? `${this.botUser.id}:${String(body.nonce)}` : undefined;
      const earlier = key ? this.nonces.get(key) : undefined;
      if (earlier && this.now - earlier.at < NONCE_WINDOW_MS) return [200, this.apiMessage(this.messages.get(earlier.messageId)!)];
      const created = this.createMessage(m[1]!, body, call.files);
      if (key) this.nonces.set(key, { messageId: created.id, at: this.now });
      return [200, this.apiMessage(created)];
    }
    if ((m = path.match(/^\/channels\/(\d+)\/messages$/)) && method === 'GET') {
      const channel = m[1]!;
      const known = channel === this.channelId || this.threads.has(channel) || [...this.messages.values()].some((x) => x.channel_id === channel);
      if (!known) return [404, { message: 'Unknown Channel', code: 10003 }];
      const limit = Math.min(100, Math.max(1, Number(new URLSearchParams(call.query).get('limit') ?? 50)));
      const listed = [...this.messages.values()].filter((x) => x.channel_id === channel && !x.deleted).sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
      return [200, listed.slice(0, limit).map((x) => this.apiMessage(x))];
    }
    if ((m = path.match(/^\/channels\/(\d+)\/messages\/(\d+)$/))) {
      const msg = this.messages.get(m[2]!);
      if (!msg || msg.deleted || msg.channel_id !== m[1]) return [404, { message: 'Unknown Message', code: 10008 }];
      if (method === 'PATCH') return [200, this.apiMessage(this.editMessage(msg.id, call.body ?? {}, call.files))];
      if (method === 'GET') return [200, this.apiMessage(msg)];
      if (method === 'DELETE') {
        msg.deleted = true;
        return [204];
      }
    }
    if ((m = path.match(/^\/channels\/(\d+)\/messages\/(\d+)\/threads$/)) && method === 'POST') {
      if (this.noThreadChannels.has(m[1]!)) return [403, { message: 'Missing Permissions', code: 50013 }];
      if (!this.messages.has(m[2]!)) return [404, { message: 'Unknown Message', code: 10008 }];
      if (this.threads.has(m[2]!)) return [400, { message: 'A thread has already been created for this message', code: 160004 }];
      const thread = { id: m[2]!, parent_id: m[1]!, name: String((call.body as any)?.name ?? '') };
      this.threads.set(thread.id, thread);
      return [201, { ...thread, type: 11, guild_id: this.guildId, owner_id: this.botUser.id, thread_metadata: { archived: false, auto_archive_duration: 1440, locked: false }, message_count: 0, member_count: 1 }];
    }
    return [404, { message: `fake discord: no route for ${method} ${path}`, code: 0 }];
  }

  private createMessage(channelId: string, data: any, files: StoredFile[], webhookId?: string): FakeMessage {
    const msg: FakeMessage = {
      id: this.snowflake(),
      channel_id: channelId,
      content: '',
      embeds: [],
      components: [],
      attachments: [],
      flags: 0,
      edits: 0,
      deleted: false,
      files: [],
      ...(webhookId ? { webhook_id: webhookId } : {}),
    };
    this.messages.set(msg.id, msg);
    this.applyData(msg, data, files);
    return msg;
  }

  private editMessage(id: string, data: any, files: StoredFile[] = []): FakeMessage {
    const msg = this.messages.get(id)!;
    msg.edits++;
    this.applyData(msg, data, files);
    return msg;
  }

  private applyData(msg: FakeMessage, data: any, files: StoredFile[]): void {
    if (data.content !== undefined) msg.content = String(data.content ?? '');
    if (data.embeds !== undefined) msg.embeds = data.embeds ?? [];
    if (data.components !== undefined) msg.components = data.components ?? [];
    if (data.flags !== undefined) msg.flags = Number(data.flags) || 0;
    if (data.message_reference !== undefined) msg.message_reference = data.message_reference;
    for (const f of files) {
      const id = this.snowflake();
      const path = `/cdn/attachments/${id}/${f.name}`;
      this.cdn.set(path, { bytes: f.bytes, contentType: f.contentType });
      msg.files.push(f);
      msg.attachments.push({ id, filename: f.name, size: f.bytes.length, url: this.baseUrl + path, proxy_url: this.baseUrl + path, content_type: f.contentType });
    }
  }

  /** The message object of Discord's API. */
  apiMessage(msg: FakeMessage): any {
    return {
      id: msg.id,
      channel_id: msg.channel_id,
      guild_id: this.guildId,
      author: { ...this.botUser, discriminator: '0', avatar: null, bot: true },
      content: msg.content,
      timestamp: new Date(this.now).toISOString(),
      edited_timestamp: msg.edits ? new Date(this.now).toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: msg.attachments,
      embeds: msg.embeds,
      components: msg.components,
      pinned: false,
      type: msg.message_reference ? 19 : 0,
      flags: msg.flags,
      ...(msg.webhook_id ? { webhook_id: msg.webhook_id, application_id: this.applicationId } : {}),
      ...(msg.message_reference ? { message_reference: msg.message_reference } : {}),
    };
  }

  /** A message by someone else, with attachments, for the "Animate with videobot" context menu. */
  userMessage(author: FakeUser, content: string, attachments: any[]): any {
    return {
      id: this.snowflake(),
      channel_id: this.channelId,
      guild_id: this.guildId,
      author: { ...author, discriminator: '0', avatar: null },
      content,
      timestamp: new Date(this.now).toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments,
      embeds: [],
      components: [],
      pinned: false,
      type: 0,
      flags: 0,
    };
  }
}

export interface DispatchOptions {
  readonly user?: FakeUser;
  readonly channelId?: string;
  readonly attachmentSizeLimit?: number;
  /** The bot's permissions in the channel, as the interaction's `app_permissions` bitfield (default: all it needs). */
  readonly appPermissions?: string;
}

export const TOKEN = 'fake-bot-token';
export const ALICE: FakeUser = { id: '100000000000000001', username: 'alice', global_name: 'Alice' };
export const BOB: FakeUser = { id: '100000000000000002', username: 'bob', global_name: 'Bob' };

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function parseBody(raw: Buffer, contentType: string | undefined): Promise<{ body: any; files: StoredFile[] }> {
  if (raw.length === 0) return { body: undefined, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    const files: StoredFile[] = [];
    let body: any;
    for (const [field, value] of form) {
      if (typeof value === 'string') {
        if (field === 'payload_json') body = JSON.parse(value);
      } else {
        files.push({ field, name: value.name, contentType: value.type, bytes: new Uint8Array(await value.arrayBuffer()) });
      }
    }
    return { body, files };
  }
  return { body: JSON.parse(raw.toString('utf8')), files: [] };
}

/**
 * What Discord refuses in a modal (callback type 9), from its components reference: a title up to 45 characters, 1-5
 * top-level components, each an Action Row holding one Text Input (the older form), a Text Display, or a Label
 * (type 18: label 1-45 characters, description up to 100) around one Text Input, select menu or File Upload. A File
 * Upload (type 19) lives only in a Label: custom_id 1-100 characters, min_values 0-10, max_values 1-10, file_types up
 * to 10. Undefined when Discord would accept it.
 */
export function modalProblem(data: any): string | undefined {
  if (!data?.custom_id || String(data.custom_id).length > 100) return 'custom_id must be 1-100 characters';
  if (!data.title || String(data.title).length > 45) return 'title must be 1-45 characters';
  const top = data.components;
  if (!Array.isArray(top) || top.length < 1 || top.length > 5) return 'a modal has 1-5 components';
  for (const c of top) {
    if (c.type === 1) {
      if (c.components?.length !== 1 || c.components[0].type !== 4) return 'an action row in a modal holds one text input';
    } else if (c.type === 18) {
      if (!c.label || String(c.label).length > 45) return 'a label needs a label of 1-45 characters';
      if (c.description !== undefined && String(c.description).length > 100) return 'a label description is at most 100 characters';
      const inner = c.component;
      if (![3, 4, 5, 6, 7, 8, 19].includes(inner?.type)) return `a label cannot hold component type ${inner?.type}`;
      if (inner.type === 19) {
        if (!inner.custom_id || String(inner.custom_id).length > 100) return 'a file upload needs a custom_id of 1-100 characters';
        if (inner.min_values !== undefined && !(inner.min_values >= 0 && inner.min_values <= 10)) return 'file upload min_values is 0-10';
        if (inner.max_values !== undefined && !(inner.max_values >= 1 && inner.max_values <= 10)) return 'file upload max_values is 1-10';
        if (inner.file_types !== undefined) {
          const problem = fileTypesProblem(inner.file_types, true);
          if (problem) return problem;
        }
      }
    } else if (c.type !== 10) {
      return `component type ${c.type} cannot be a top-level modal component`;
    }
  }
  return undefined;
}

/**
 * Discord's file-type filter (reference, "file type filtering"): up to 10 entries, each `image`, `audio`, `video` or a
 * dot-prefixed extension; a filter of extensions only that admits images must include `.jpg` (mobile clients).
 */
export function fileTypesProblem(types: unknown, allowed: boolean): string | undefined {
  if (!allowed) return 'file_types is only for attachment options and file uploads';
  if (!Array.isArray(types) || types.length < 1 || types.length > 10) return 'file_types has 1-10 entries';
  if (!types.every((t) => ['image', 'audio', 'video'].includes(t) || /^\.[a-z0-9]+$/i.test(String(t)))) return 'file_types entries are image, audio, video or .ext';
  const extensionsOnly = types.every((t) => String(t).startsWith('.'));
  const images = types.some((t) => /^\.(png|jpe?g|webp|gif)$/i.test(String(t)));
  if (extensionsOnly && images && !types.includes('.jpg')) return 'an image filter of extensions must include .jpg';
  return undefined;
}
