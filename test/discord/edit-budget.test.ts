// A 50-person burst against the loopback Discord (issue 13 item 5): every job's status edits in a channel share one
// budget, so no channel sees more than Discord's 5 edits in 5 seconds, and every job still ends showing its final
// state. (Before: each job throttled only itself, and 50 jobs made up to 174 edits in 5 s in one channel.)
// The burst runs with the window shortened to half a second (the adapter's channelEdits option), so the test waits seconds;
// the 5-second default is checked apart.
import { afterEach, describe, expect, it } from 'vitest';
import { createDiscordAdapter } from '../../bot/chat/discord.js';
import { eventually, testLogger } from '../support/harness.js';
import { TOKEN, type FakeUser } from './fake-discord.js';
import { prompt, startWorld, type DiscordWorld } from './setup.js';

const PEOPLE = 50;
const CHANNELS = ['900000000000000110', '900000000000000111', '900000000000000112', '900000000000000113', '900000000000000114'];
const WINDOW_MS = 500;
const LIMIT = 5;

describe('Discord: status edits of 50 jobs at once', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  it('keeps to 5 edits per 5 s in a channel by default (a quarter second of margin)', () => {
    const adapter = createDiscordAdapter({ token: TOKEN, logger: testLogger() });
    expect(adapter.surface.editBudgets).toEqual({ perChannel: { edits: 5, windowMs: 5250 } });
  });

  it('stays within 5 edits per window (shortened to half a second) in every channel and shows every job’s final state', { timeout: 60_000 }, async () => {
    // discord.js's global 50 requests a second would pace the burst's ~350 requests itself: lifted, the budget alone paces.
    w = await startWorld({ channelEdits: { edits: LIMIT, windowMs: WINDOW_MS }, globalRequestsPerSecond: 10_000 }, { limits: { maxConcurrentJobs: PEOPLE, statusIntervalMs: 0, retryBackoffMs: 0 } });
    const { fake, h } = w;
    fake.ackWindowMs = 30_000; // not what this test is about
    const users: FakeUser[] = Array.from({ length: PEOPLE }, (_, i) => ({ id: `3000000000000000${String(i).padStart(2, '0')}`, username: `p${i}`, global_name: `P ${i}` }));
    const ids = await Promise.all(users.map((user, i) => fake.slashCommand('video', [prompt(`burst ${i}`)], { user, channelId: CHANNELS[i % CHANNELS.length]! })));
    await Promise.all(ids.map((id) => eventually(() => fake.originalOf(id)?.content.startsWith('Started job') || undefined, 30_000, `reply to ${id}`)));
    await eventually(() => h.runner.submitted.length === PEOPLE, 10_000, 'all jobs on the GPU');
    const jobs = h.runner.submitted.map((j) => j.id);
    // Every job reports progress as fast as it can, then finishes: far more views than the channels can take.
    await Promise.all(
      jobs.map(async (id, n) => {
        for (let step = 1; step <= 4; step++) await h.runner.progress(id, step, 4);
        await h.runner.progress(id, 0, 0, 'encoding');
        if (n % 10 === 9) await h.runner.fail(id, 'GPU_OUT_OF_MEMORY', 'The GPU ran out of memory.');
        else await h.runner.complete(id);
      }),
    );
    const statuses = await Promise.all(jobs.map(async (id) => (await h.store.get(id))!.conversation.statusMessageId!));
    await eventually(() => statuses.every((s) => /Done|Out of GPU memory|Failed|failed/i.test(fake.messages.get(s)!.content.split('\n')[0]!)), 60_000, 'every final state');
    for (const [i, s] of statuses.entries()) {
      const headline = fake.messages.get(s)!.content.split('\n')[0]!;
      expect(headline, `job ${jobs[i]}`).toMatch(i % 10 === 9 ? /⚠️/ : /✅/);
    }

    const edits = fake.calls.filter((c) => c.method === 'PATCH' && /^\/channels\/\d+\/messages\/\d+$/.test(c.path) && c.auth === `Bot ${TOKEN}`);
    let busiest = 0;
    for (const channel of CHANNELS) {
      const times = edits.filter((c) => c.path.startsWith(`/channels/${channel}/`)).map((c) => c.receivedAt);
      for (const t of times) busiest = Math.max(busiest, times.filter((u) => u >= t && u < t + WINDOW_MS).length);
    }
    expect(busiest).toBeLessThanOrEqual(LIMIT);
    expect(edits.length).toBeGreaterThanOrEqual(PEOPLE); // at least every final state
    expect(fake.calls.filter((c) => c.status === 429)).toHaveLength(0);
    console.log(`edit budget: ${edits.length} edits for ${PEOPLE} jobs, at most ${busiest} in ${WINDOW_MS} ms in one channel`);
  });
});
