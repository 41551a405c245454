import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../../bot/local/sqlite.js';
import { sampleJob } from '../support/fixtures.js';
import { ManualClock } from '../support/harness.js';
import { describeJobStoreContract } from '../support/job-store-contract.js';
import { describeSettingsStoreContract } from '../support/settings-store-contract.js';

function tempDbPath(): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vb-sqlite-'));
  return { dir, path: join(dir, 'db', 'jobs.db') };
}

describeJobStoreContract('SqliteJobStore', async () => {
  const { dir, path } = tempDbPath();
  const clock = new ManualClock();
  const store = new SqliteJobStore(path, clock);
  return {
    store,
    clock,
    async close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeSettingsStoreContract('SqliteJobStore', async () => {
  const { dir, path } = tempDbPath();
  const clock = new ManualClock();
  const store = new SqliteJobStore(path, clock);
  return {
    store,
    clock,
    async close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteJobStore', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('keeps jobs across a reopen of the file', async () => {
    const { dir, path } = tempDbPath();
    dirs.push(dir);
    const clock = new ManualClock();
    const store = new SqliteJobStore(path, clock);
    await store.create(sampleJob('a', { requestKey: 'k' }));
    await store.transition('a', ['queued'], 'submitting');
    store.close();
    const reopened = new SqliteJobStore(path, clock);
    expect(await reopened.get('a')).toMatchObject({ state: 'submitting', version: 2 });
    expect(await reopened.create(sampleJob('b', { requestKey: 'k' }))).toMatchObject({ created: false, job: { id: 'a' } });
    expect((await reopened.listByState(['submitting'])).map((j) => j.id)).toEqual(['a']);
    reopened.close();
  });
});
