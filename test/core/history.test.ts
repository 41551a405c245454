// History (bot/core/history.ts) through JobService.videos: a person's delivered videos, newest first, 10 a page, seen
// only by them or an admin; download links only where people can open them.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HISTORY_PAGE_SIZE, MAX_HISTORY_PAGES } from '../../bot/core/history.js';
import type { Job } from '../../bot/core/job.js';
import type { ObjectStore } from '../../bot/core/ports.js';
import { sampleJob } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';

const alice = { platform: 'slack' as const, userId: 'UALICE' };

describe('JobService.videos', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  /** `n` delivered videos of alice, a minute apart (v01 oldest), plus a failed one and someone else's. */
  async function seed(n: number): Promise<Job[]> {
    const jobs: Job[] = [];
    for (let i = 1; i <= n; i++) {
      const at = h.clock.now() + i * 60_000;
      const job = sampleJob(`v${String(i).padStart(2, '0')}`, {
        state: 'delivered',
        requester: alice,
        params: { ...sampleJob('x').params, prompt: `prompt ${i}`, seed: 100 + i },
        createdAt: at,
        updatedAt: at,
        finishedAt: at,
      });
      await h.store.create(job);
      jobs.push(job);
    }
    await h.store.create(sampleJob('failed', { state: 'failed', requester: alice, createdAt: h.clock.now() + 999 * 60_000 }));
    await h.store.create(sampleJob('bob1', { state: 'delivered', requester: { platform: 'slack', userId: 'UBOB' } }));
    return jobs;
  }

  it('pages the caller\'s delivered videos, newest first, with prompt, model, seed and date', async () => {
    h = await createHarness([]);
    await seed(12);
    const first = await h.service.videos(alice);
    expect(first.entries.map((e) => e.jobId)).toEqual(['v12', 'v11', 'v10', 'v09', 'v08', 'v07', 'v06', 'v05', 'v04', 'v03']);
    expect(first).toMatchObject({ page: 1, hasPrevious: false, hasNext: true, owner: alice });
    expect(first.entries[0]).toMatchObject({ prompt: 'prompt 12', model: 'tiny-random', seed: 112, createdAt: h.clock.now() + 12 * 60_000 });
    const second = await h.service.videos(alice, { page: 2 });
    expect(second.entries.map((e) => e.jobId)).toEqual(['v02', 'v01']);
    expect(second).toMatchObject({ page: 2, hasPrevious: true, hasNext: false });
    expect((await h.service.videos(alice, { page: 3 })).entries).toEqual([]);
  });

  it('has no next page when the videos fill the last page exactly', async () => {
    h = await createHarness([]);
    await seed(HISTORY_PAGE_SIZE);
    expect(await h.service.videos(alice)).toMatchObject({ hasNext: false, hasPrevious: false });
  });

  it('shows someone else\'s videos only to an admin', async () => {
    h = await createHarness([], { access: { admins: ['slack:UADMIN'] } });
    await seed(2);
    await expect(h.service.videos({ platform: 'slack', userId: 'UBOB' }, { owner: alice })).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    const seen = await h.service.videos({ platform: 'slack', userId: 'UADMIN' }, { owner: alice });
    expect(seen.entries.map((e) => e.jobId)).toEqual(['v02', 'v01']);
  });

  it('refuses a page out of range in one sentence', async () => {
    h = await createHarness([]);
    await expect(h.service.videos(alice, { page: 0 })).rejects.toThrow(`Pages go from 1 to ${MAX_HISTORY_PAGES}; got 0.`);
    await expect(h.service.videos(alice, { page: MAX_HISTORY_PAGES + 1 })).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
  });

  it('gives chats a download link only when it is a web link; a file on the bot\'s machine only to the terminal', async () => {
    h = await createHarness([]);
    const [job] = await seed(1);
    await mkdir(h.objects.outputDir(job!.id), { recursive: true });
    await writeFile(join(h.objects.outputDir(job!.id), 'video.mp4'), 'mp4');
    const inSlack = (await h.service.videos(alice)).entries[0]!;
    expect(inSlack.link).toBeUndefined();
    expect(inSlack.localLink).toBeUndefined();
    await h.store.create(sampleJob('t1', { state: 'delivered', requester: { platform: 'shell', userId: 'me' } }));
    await mkdir(h.objects.outputDir('t1'), { recursive: true });
    await writeFile(join(h.objects.outputDir('t1'), 'video.mp4'), 'mp4');
    expect((await h.service.videos({ platform: 'shell', userId: 'me' })).entries[0]!.localLink).toMatch(/^file:\/\/.*t1.*video\.mp4$/);
  });

  it('links to a presigned download where the object store has one', async () => {
    const asked: [string, string, number][] = [];
    const presigning: ObjectStore = {
      putInput: async () => {},
      getInput: async () => undefined,
      getOutput: async () => undefined,
      statOutput: async () => 3,
      outputLink: async (jobId, name, ttl) => (asked.push([jobId, name, ttl]), `https://bucket.example/${jobId}/${name}?X-Amz-Expires=${ttl}`),
    };
    h = await createHarness([], { objects: presigning, presignTtlSeconds: 900 });
    await seed(1);
    expect((await h.service.videos(alice)).entries[0]!.link).toBe('https://bucket.example/v01/video.mp4?X-Amz-Expires=900');
    expect(asked).toEqual([['v01', 'video.mp4', 900]]);
  });
});
