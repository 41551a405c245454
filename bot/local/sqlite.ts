// JobStore on a SQLite file (the embedded default). Every transition is a conditional UPDATE.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Job, JobPatch, JobProgress, JobState, Platform } from '../core/job.js';
import { applyTransition } from '../core/job.js';
import type { Clock, CreateOutcome, JobStore } from '../core/ports.js';

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
`;

interface Row {
  data: string;
}

export class SqliteJobStore implements JobStore {
  private readonly db: Database.Database;

  constructor(path: string, private readonly clock: Clock) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  async create(job: Job): Promise<CreateOutcome> {
    const insert = this.db.transaction((j: Job): CreateOutcome => {
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
    const row = this.db
      .prepare("SELECT COUNT(*) AS n FROM jobs WHERE platform = ? AND user_id = ? AND state = 'delivered' AND finished_at >= ?")
      .get(platform, userId, sinceMs) as { n: number };
    return row.n;
  }

  close(): void {
    this.db.close();
  }
}
