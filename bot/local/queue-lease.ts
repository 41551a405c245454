// The lease on this machine's GPU queue, kept in the SQLite store: one process (the bot or a `videobot generate`)
// starts jobs from a data folder at a time; a holder that exited or stopped renewing is taken over.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { QueueLease } from '../core/scope.js';
import type { SqliteJobStore } from './sqlite.js';
import { processAlive } from './processes.js';

export const GPU_QUEUE_LEASE = 'gpu-queue';
/** Renewed every second by its holder (DEFAULT_QUEUE_POLL_MS); a holder silent this long has hung. */
export const GPU_QUEUE_LEASE_TTL_MS = 15_000;

export interface LocalQueueLease extends QueueLease {
  /** "<host>:<pid>:<random>": who this process is in the lease table. */
  readonly holder: string;
}

export function createLocalQueueLease(store: SqliteJobStore, ttlMs = GPU_QUEUE_LEASE_TTL_MS): LocalQueueLease {
  const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  return {
    holder,
    hold: async () => store.takeLease(GPU_QUEUE_LEASE, holder, ttlMs, holderIsGone),
    release: async () => store.releaseLease(GPU_QUEUE_LEASE, holder),
  };
}

/** A holder on this machine whose process has exited is gone at once, without waiting for the lease to expire. */
export function holderIsGone(holder: string): boolean {
  const [host, pid] = holder.split(':');
  if (host !== hostname()) return false;
  return !processAlive(Number(pid));
}
