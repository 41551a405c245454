import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { sampleJob } from '../support/fixtures.js';
import { ManualClock } from '../support/harness.js';

const job = sampleJob;

describe('SqliteJobStore', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const open = (clock = new ManualClock()) => {
    const dir = mkdtempSync(join(tmpdir(), 'vb-sqlite-'));
    dirs.push(dir);
    return { store: new SqliteJobStore(join(dir, 'db', 'jobs.db'), clock), path: join(dir, 'db', 'jobs.db'), clock };
  };

  it('creates, reads and dedupes by request key', async () => {
    const { store } = open();
    expect((await store.create(job('a', { requestKey: 'k' }))).created).toBe(true);
    const again = await store.create(job('b', { requestKey: 'k' }));
    expect(again).toMatchObject({ created: false, job: { id: 'a' } });
    expect(await store.get('b')).toBeUndefined();
    expect((await store.get('a'))?.params.prompt).toBe('a bee');
  });

  it('compare-and-sets transitions on the previous state and version', async () => {
    const { store, clock } = open();
    await store.create(job('a'));
    clock.advance(5);
    const moved = await store.transition('a', ['queued'], 'submitting', { attempts: 1 });
    expect(moved).toMatchObject({ state: 'submitting', version: 2, attempts: 1, updatedAt: clock.now() });
    expect(await store.transition('a', ['queued'], 'submitting')).toBeUndefined();
    expect(await store.transition('a', ['submitting'], 'starting', {}, 1)).toBeUndefined();
    expect(await store.transition('a', ['submitting'], 'starting', {}, 2)).toMatchObject({ state: 'starting', version: 3 });
    expect(await store.transition('missing', ['queued'], 'submitting')).toBeUndefined();
  });

  it('lets exactly one of many racing writers win', async () => {
    const { store } = open();
    await store.create(job('a', { state: 'running' }));
    const results = await Promise.all(Array.from({ length: 10 }, () => store.transition('a', ['running'], 'uploading')));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('saves progress only in the given states', async () => {
    const { store } = open();
    await store.create(job('a', { state: 'running' }));
    const progress = { phase: 'denoising', step: 3, total: 10, etaS: 7, elapsedS: 3 };
    expect(await store.saveProgress('a', ['running'], progress)).toBe(true);
    expect((await store.get('a'))?.progress).toEqual(progress);
    expect(await store.saveProgress('a', ['encoding'], progress)).toBe(false);
  });

  it('lists by user (newest first), by state, and counts deliveries since a time', async () => {
    const { store } = open();
    await store.create(job('a', { createdAt: 1 }));
    await store.create(job('b', { createdAt: 2 }));
    await store.create(job('c', { createdAt: 3, requester: { platform: 'slack', userId: 'U2' } }));
    await store.transition('a', ['queued'], 'failed', { finishedAt: 10 });
    expect((await store.listByUser('slack', 'U1', 10)).map((j) => j.id)).toEqual(['b', 'a']);
    expect((await store.listByState(['queued'])).map((j) => j.id)).toEqual(['b', 'c']);
    await store.create(job('d', { state: 'uploading' }));
    await store.transition('d', ['uploading'], 'delivered', { finishedAt: 500 });
    expect(await store.countDeliveredSince('slack', 'U1', 400)).toBe(1);
    expect(await store.countDeliveredSince('slack', 'U1', 600)).toBe(0);
  });

  it('keeps jobs across a reopen of the file', async () => {
    const { store, path, clock } = open();
    await store.create(job('a'));
    store.close();
    const reopened = new SqliteJobStore(path, clock);
    expect((await reopened.get('a'))?.state).toBe('queued');
    reopened.close();
  });
});
