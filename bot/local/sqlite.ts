// JobStore on a SQLite file (the embedded default). Every transition is a conditional UPDATE. It also keeps the
// SettingsStore (blocked terms, bans, quota resets, refusal counts) in the same file.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Job, JobPatch, JobProgress, JobState, Platform } from '../core/job.js';
import { FINAL_STATES, applyTransition } from '../core/job.js';
import type { ConversationKey, CreateOutcome, JobStore, Reservation, SettingsStore, SlotHold, SlotLimits, SlotOwner, TimeSource, UserStanding } from '../core/ports.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  version INTEGER NOT NULL,
  request_key TEXT UNIQUE,
  platform TEXT NOT NULL,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (platform, user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_by_conversation ON jobs (json_extract(data, '$.conversation.channelId'), created_at) WHERE state = 'delivered';
CREATE TABLE IF NOT EXISTS leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS slot_holds (
  id TEXT PRIMARY KEY,
  platform TEXT NOT NULL,
  user_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS slot_holds_by_user ON slot_holds (platform, user_id);
CREATE TABLE IF NOT EXISTS blocked_terms (
  term TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS user_standing (
  platform TEXT NOT NULL,
  user_id TEXT NOT NULL,
  banned INTEGER NOT NULL DEFAULT 0,
  quota_reset_at INTEGER,
  refusals INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (platform, user_id)
);
CREATE TABLE IF NOT EXISTS counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
`;

interface Row {
  data: string;
}

export class SqliteJobStore implements JobStore, SettingsStore {
  private readonly db: Database.Database;

  constructor(path: string, private readonly clock: TimeSource) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  async create(job: Job, hold?: SlotHold): Promise<CreateOutcome> {
    const insert = this.db.transaction((j: Job): CreateOutcome => {
      if (hold) this.db.prepare('DELETE FROM slot_holds WHERE id = ?').run(hold.id);
      if (j.requestKey) {
        const existing = this.db.prepare('SELECT data FROM jobs WHERE request_key = ?').get(j.requestKey) as Row | undefined;
        if (existing) return { created: false, job: JSON.parse(existing.data) as Job };
      }
      this.db
        .prepare(
          'INSERT INTO jobs (id, state, version, request_key, platform, user_id, created_at, finished_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(j.id, j.state, j.version, j.requestKey ?? null, j.requester.platform, j.requester.userId, j.createdAt, j.finishedAt ?? null, JSON.stringify(j));
      return { created: true, job: j };
    });
    return insert.immediate(job);
  }

  async findByRequestKey(requestKey: string): Promise<Job | undefined> {
    const row = this.db.prepare('SELECT data FROM jobs WHERE request_key = ?').get(requestKey) as Row | undefined;
    return row ? (JSON.parse(row.data) as Job) : undefined;
  }

  /** One IMMEDIATE transaction: the write lock is taken before counting, so reserves (of any process) run one at a time. */
  async reserve(hold: SlotHold, limits: SlotLimits): Promise<Reservation> {
    const run = this.db.transaction((): Reservation => {
      const { platform, userId } = hold.owner;
      this.db.prepare('DELETE FROM slot_holds WHERE expires_at <= ?').run(this.clock.now());
      const live = this.db
        .prepare(`SELECT COUNT(*) AS n FROM jobs WHERE platform = ? AND user_id = ? AND state NOT IN (${FINAL_STATES.map(() => '?').join(',')})`)
        .get(platform, userId, ...FINAL_STATES) as { n: number };
      const held = this.db.prepare('SELECT COUNT(*) AS n FROM slot_holds WHERE platform = ? AND user_id = ?').get(platform, userId) as { n: number };
      const inProgress = live.n + held.n;
      const delivered = limits.dailyQuota > 0 ? this.deliveredSince(platform, userId, limits.deliveredSince) : 0;
      if (inProgress >= limits.maxLive) return { held: false, reason: 'live', inProgress, delivered };
      if (limits.dailyQuota > 0 && delivered + inProgress >= limits.dailyQuota) return { held: false, reason: 'quota', inProgress, delivered };
      this.db.prepare('INSERT INTO slot_holds (id, platform, user_id, expires_at) VALUES (?, ?, ?, ?)').run(hold.id, platform, userId, hold.expiresAt);
      return { held: true };
    });
    return run.immediate();
  }

  async release(hold: SlotHold): Promise<void> {
    this.db.prepare('DELETE FROM slot_holds WHERE id = ?').run(hold.id);
  }

  async get(id: string): Promise<Job | undefined> {
    const row = this.db.prepare('SELECT data FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return row ? (JSON.parse(row.data) as Job) : undefined;
  }

  async transition(id: string, from: readonly JobState[], to: JobState, patch?: JobPatch, expectVersion?: number): Promise<Job | undefined> {
    const run = this.db.transaction((): Job | undefined => {
      const row = this.db.prepare('SELECT data FROM jobs WHERE id = ?').get(id) as Row | undefined;
      if (!row) return undefined;
      const job = JSON.parse(row.data) as Job;
      if (!from.includes(job.state) || (expectVersion !== undefined && job.version !== expectVersion)) return undefined;
      const next = applyTransition(job, to, patch, this.clock.now());
      const result = this.db
        .prepare('UPDATE jobs SET state = ?, version = ?, finished_at = ?, data = ? WHERE id = ? AND state = ? AND version = ?')
        .run(next.state, next.version, next.finishedAt ?? null, JSON.stringify(next), id, job.state, job.version);
      return result.changes === 1 ? next : undefined;
    });
    return run.immediate();
  }

  async saveProgress(id: string, states: readonly JobState[], progress: JobProgress): Promise<boolean> {
    const run = this.db.transaction((): boolean => {
      const row = this.db.prepare('SELECT data FROM jobs WHERE id = ?').get(id) as Row | undefined;
      if (!row) return false;
      const job = JSON.parse(row.data) as Job;
      if (!states.includes(job.state)) return false;
      const next: Job = { ...job, progress, version: job.version + 1, updatedAt: this.clock.now() };
      this.db.prepare('UPDATE jobs SET version = ?, data = ? WHERE id = ? AND version = ?').run(next.version, JSON.stringify(next), id, job.version);
      return true;
    });
    return run.immediate();
  }

  async listByUser(platform: Platform, userId: string, limit: number): Promise<Job[]> {
    const rows = this.db
      .prepare('SELECT data FROM jobs WHERE platform = ? AND user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?')
      .all(platform, userId, limit) as Row[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  async listByState(states: readonly JobState[]): Promise<Job[]> {
    if (states.length === 0) return [];
    const rows = this.db
      .prepare(`SELECT data FROM jobs WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY created_at, id`)
      .all(...states) as Row[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  async countDeliveredSince(platform: Platform, userId: string, sinceMs: number): Promise<number> {
    return this.deliveredSince(platform, userId, sinceMs);
  }

  async listDeliveredByUser(platform: Platform, userId: string, limit: number): Promise<Job[]> {
    const rows = this.db
      .prepare("SELECT data FROM jobs WHERE platform = ? AND user_id = ? AND state = 'delivered' ORDER BY created_at DESC, id DESC LIMIT ?")
      .all(platform, userId, limit) as Row[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  async listDeliveredInConversation(conversation: ConversationKey, limit: number): Promise<Job[]> {
    const rows = this.db
      .prepare(
        `SELECT data FROM jobs WHERE state = 'delivered' AND json_extract(data, '$.conversation.channelId') = ?
           AND json_extract(data, '$.conversation.platform') = ? AND coalesce(json_extract(data, '$.conversation.threadId'), '') = ?
         ORDER BY created_at ASC, id ASC LIMIT ?`,
      )
      .all(conversation.channelId, conversation.platform, conversation.threadId ?? '', limit) as Row[];
    return rows.map((r) => JSON.parse(r.data) as Job);
  }

  async blockedTerms(): Promise<string[]> {
    return (this.db.prepare('SELECT term FROM blocked_terms ORDER BY term').all() as { term: string }[]).map((r) => r.term);
  }

  async addBlockedTerm(term: string): Promise<boolean> {
    return this.db.prepare('INSERT OR IGNORE INTO blocked_terms (term) VALUES (?)').run(term).changes === 1;
  }

  async removeBlockedTerm(term: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM blocked_terms WHERE term = ?').run(term).changes === 1;
  }

  async standing(owner: SlotOwner): Promise<UserStanding> {
    const row = this.db
      .prepare('SELECT banned, quota_reset_at, refusals FROM user_standing WHERE platform = ? AND user_id = ?')
      .get(owner.platform, owner.userId) as { banned: number; quota_reset_at: number | null; refusals: number } | undefined;
    if (!row) return { banned: false, refusals: 0 };
    return { banned: row.banned === 1, refusals: row.refusals, ...(row.quota_reset_at !== null ? { quotaResetAt: row.quota_reset_at } : {}) };
  }

  async setBanned(owner: SlotOwner, banned: boolean): Promise<void> {
    this.db
      .prepare('INSERT INTO user_standing (platform, user_id, banned) VALUES (?, ?, ?) ON CONFLICT(platform, user_id) DO UPDATE SET banned = excluded.banned')
      .run(owner.platform, owner.userId, banned ? 1 : 0);
  }

  async resetQuota(owner: SlotOwner, at: number): Promise<void> {
    this.db
      .prepare('INSERT INTO user_standing (platform, user_id, quota_reset_at) VALUES (?, ?, ?) ON CONFLICT(platform, user_id) DO UPDATE SET quota_reset_at = excluded.quota_reset_at')
      .run(owner.platform, owner.userId, at);
  }

  async recordRefusal(owner?: SlotOwner): Promise<void> {
    const run = this.db.transaction(() => {
      if (owner) {
        this.db
          .prepare('INSERT INTO user_standing (platform, user_id, refusals) VALUES (?, ?, 1) ON CONFLICT(platform, user_id) DO UPDATE SET refusals = refusals + 1')
          .run(owner.platform, owner.userId);
      }
      this.db.prepare("INSERT INTO counters (name, value) VALUES ('refusals', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1").run();
    });
    run.immediate();
  }

  async refusalCount(): Promise<number> {
    const row = this.db.prepare("SELECT value FROM counters WHERE name = 'refusals'").get() as { value: number } | undefined;
    return row?.value ?? 0;
  }

  private deliveredSince(platform: Platform, userId: string, sinceMs: number): number {
    const row = this.db
      .prepare("SELECT COUNT(*) AS n FROM jobs WHERE platform = ? AND user_id = ? AND state = 'delivered' AND finished_at >= ?")
      .get(platform, userId, sinceMs) as { n: number };
    return row.n;
  }

  /**
   * Takes the named lease for `holder` until now + ttlMs, or renews it: granted when nobody holds it, `holder`
   * already does, the current one has expired, or `isGone(current)` says that holder no longer exists.
   * One IMMEDIATE transaction, so two processes can never both be granted it.
   */
  takeLease(name: string, holder: string, ttlMs: number, isGone: (current: string) => boolean = () => false): boolean {
    const run = this.db.transaction((): boolean => {
      const now = this.clock.now();
      const row = this.db.prepare('SELECT holder, expires_at FROM leases WHERE name = ?').get(name) as { holder: string; expires_at: number } | undefined;
      if (row && row.holder !== holder && row.expires_at > now && !isGone(row.holder)) return false;
      this.db
        .prepare('INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at')
        .run(name, holder, now + ttlMs);
      return true;
    });
    return run.immediate();
  }

  /** The lease's holder while it has not expired. */
  leaseHolder(name: string): string | undefined {
    const row = this.db.prepare('SELECT holder FROM leases WHERE name = ? AND expires_at > ?').get(name, this.clock.now()) as { holder: string } | undefined;
    return row?.holder;
  }

  /** Gives the lease up if `holder` holds it. */
  releaseLease(name: string, holder: string): void {
    this.db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?').run(name, holder);
  }

  close(): void {
    this.db.close();
  }
}
