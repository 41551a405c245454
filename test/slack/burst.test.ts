// A burst over the per-user limit (issue 12 item 14): 50 /video commands from 10 people at once, 2 live jobs each.
// Every refusal must be private (the slash command's own ephemeral acknowledgement); the channel sees only the
// status messages of the jobs that were made.
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../bot/config.js';
import { LIVE_STATES } from '../../bot/core/job.js';
import { eventually } from '../support/harness.js';
import { slashCommand } from './payloads.js';
import { startWorld, type SlackWorld } from './setup.js';

const PEOPLE = 10;
const COMMANDS = 50;

describe('Slack adapter: a burst over the per-user limit', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('refuses 30 of 50 simultaneous /video commands privately and posts only the 20 jobs it makes', async () => {
    const maxJobsPerUser = loadConfig({ VIDEOBOT_MAX_JOBS_PER_USER: '2' }).VIDEOBOT_MAX_JOBS_PER_USER;
    w = await startWorld({ service: { access: { maxJobsPerUser } } });
    const { fake, h, slack } = w;
    // Status messages stay in flight (a Web API slow to answer, as under load) until every command has been answered,
    // so all 50 are being handled at once: a limit checked before posting and enforced only after it lets them all post.
    const release = fake.hold('chat.postMessage');
    const channel = 'C0BURST';
    const users = Array.from({ length: PEOPLE }, (_, i) => `U0BURST${i}`);
    const responses = await Promise.all(
      Array.from({ length: COMMANDS }, (_, n) => slack.form(slashCommand('/video', `burst ${n}`, { user: users[n % PEOPLE]!, channel }, fake.responseUrl(`r${n}`)))),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(COMMANDS).fill(200));
    release();

    // An admitted command is acknowledged before its status message is posted and its job created: wait for those.
    await eventually(async () => (await h.store.listByState(LIVE_STATES)).length >= PEOPLE * maxJobsPerUser, 10_000, 'the jobs');
    await new Promise((r) => setTimeout(r, 200));
    const live = await h.store.listByState(LIVE_STATES);
    expect(live).toHaveLength(PEOPLE * maxJobsPerUser);
    for (const user of users) expect(live.filter((j) => j.requester.userId === user)).toHaveLength(maxJobsPerUser);

    // Refusals: the acknowledgement itself, ephemeral, one per refused command.
    const refusals = responses.filter((r) => r.body !== '').map((r) => JSON.parse(r.body) as { response_type: string; text: string });
    expect(refusals).toHaveLength(COMMANDS - live.length);
    for (const refusal of refusals) {
      expect(refusal).toEqual({ response_type: 'ephemeral', text: expect.stringMatching(/^You already have 2 videos in progress; the limit is 2 at a time\./) });
    }

    // Public: exactly one status message per job made, none posted and withdrawn again.
    const posts = fake.callsTo('chat.postMessage');
    expect(posts).toHaveLength(live.length);
    expect(fake.callsTo('chat.delete')).toHaveLength(0);
    expect([...fake.messages.values()].filter((m) => m.channel === channel).map((m) => m.ts).sort()).toEqual(live.map((j) => j.conversation.statusMessageId).sort());
    expect(fake.callsTo('chat.postEphemeral')).toHaveLength(0);
    expect(fake.responses).toHaveLength(0);
  });
});
