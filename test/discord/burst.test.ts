// A burst over the per-user limit (issue 12 item 14): 50 /video interactions from 10 people at once, 2 live jobs
// each. Every refusal must stay in the interaction's ephemeral reply; the channel sees only the status messages
// of the jobs that were made.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../bot/config.js';
import { LIVE_STATES } from '../../bot/core/job.js';
import { eventually } from '../support/harness.js';
import { TOKEN, type FakeUser } from './fake-discord.js';
import { prompt, startWorld, type DiscordWorld } from './setup.js';

const PEOPLE = 10;
const COMMANDS = 50;

describe('Discord: a burst over the per-user limit', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  it('refuses 30 of 50 simultaneous /video interactions ephemerally and posts only the 20 jobs it makes', async () => {
    const maxJobsPerUser = loadConfig({ VIDEOBOT_MAX_JOBS_PER_USER: '2' }).VIDEOBOT_MAX_JOBS_PER_USER;
    w = await startWorld({}, { access: { maxJobsPerUser } });
    const { fake, h } = w;
    fake.ackWindowMs = 30_000; // not what this test is about (see ackWindowMs)
    const users: FakeUser[] = Array.from({ length: PEOPLE }, (_, i) => ({ id: `20000000000000000${i}`, username: `u${i}`, global_name: `U ${i}` }));
    // Status messages stay in flight (an API slow to answer, as under load; discord.js sends one request per route at a
    // time, so the rest wait behind it) until every refusal has been answered: the refusals must not need them.
    const release = fake.hold('POST', new RegExp(`^/channels/${fake.channelId}/messages$`));
    const ids = await Promise.all(Array.from({ length: COMMANDS }, (_, n) => fake.slashCommand('video', [prompt(`burst ${n}`)], { user: users[n % PEOPLE]! })));
    const answered = () => ids.filter((id) => fake.originalOf(id)?.content).length;
    const refusals = COMMANDS - PEOPLE * maxJobsPerUser;
    await eventually(() => answered() === refusals, 15_000, `${refusals} refusals while no status message could be posted yet`);
    expect(fake.heldCount()).toBe(1);
    release();
    // Generous: fifty interactions on a loaded two-core machine.
    const replies = await Promise.all(ids.map((id) => eventually(() => fake.originalOf(id)?.content || undefined, 30_000, `reply to ${id}`)));

    const started = replies.filter((r) => r.startsWith('Started job'));
    const refused = replies.filter((r) => !r.startsWith('Started job'));
    expect(started).toHaveLength(PEOPLE * maxJobsPerUser);
    for (const text of refused) expect(text).toMatch(/^You already have 2 videos in progress; the limit is 2 at a time\./);
    for (const id of ids) expect(fake.originalOf(id)!.flags & 64).toBe(64);

    const live = await h.store.listByState(LIVE_STATES);
    expect(live).toHaveLength(PEOPLE * maxJobsPerUser);
    for (const user of users) expect(live.filter((j) => j.requester.userId === user.id)).toHaveLength(maxJobsPerUser);

    // Public: exactly one status message per job made (bot-token channel posts), none posted and deleted again.
    const channelPosts = fake.calls.filter((c) => c.method === 'POST' && c.path === `/channels/${fake.channelId}/messages` && c.auth === `Bot ${TOKEN}`);
    expect(channelPosts).toHaveLength(live.length);
    expect(fake.calls.filter((c) => c.method === 'DELETE')).toHaveLength(0);
    expect(fake.channelMessages(fake.channelId).map((m) => m.id).sort()).toEqual(live.map((j) => j.conversation.statusMessageId).sort());
  });
});
