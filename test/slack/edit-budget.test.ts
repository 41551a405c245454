// A 50-person burst against the loopback Slack (issue 13 item 5): chat.update is Tier 3 ("50+ per minute" per
// workspace), and every job's status card shares that one budget, so the workspace never sees more than 50 edits
// in a minute; final states go first and every card still ends on its own. The burst runs with the window shortened
// to 2 s (the adapter's workspaceEdits option), so the test waits seconds, not minutes; the minute is checked apart.
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackAdapter } from '../../bot/chat/slack.js';
import { eventually, testLogger } from '../support/harness.js';
import { slashCommand } from './payloads.js';
import { BOT_TOKEN, SIGNING_SECRET, startWorld, type SlackWorld } from './setup.js';

const PEOPLE = 50;
const BUDGET = { edits: 50, windowMs: 2000 };

describe('Slack: status edits of 50 jobs at once', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('keeps to Tier 3 by default: 50 chat.update a minute in the workspace', () => {
    const adapter = createSlackAdapter({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, mode: 'http', port: 0, logger: testLogger() });
    expect(adapter.surface.editBudgets).toEqual({ perWorkspace: { edits: 50, windowMs: 60_000 } });
  });

  it('stays within 50 chat.update a window (shortened to 2 s) in the workspace and shows every job’s final state', { timeout: 60_000 }, async () => {
    w = await startWorld({ adapter: { workspaceEdits: BUDGET }, service: { limits: { maxConcurrentJobs: PEOPLE, statusIntervalMs: 0, retryBackoffMs: 0 } } });
    const { fake, h, slack } = w;
    await Promise.all(Array.from({ length: PEOPLE }, (_, n) => slack.form(slashCommand('/video', `burst ${n}`, { user: `U0EDIT${n}`, channel: 'C0EDITS' }, fake.responseUrl(`e${n}`)))));
    await eventually(() => h.runner.submitted.length === PEOPLE, 20_000, 'all jobs on the GPU');
    const jobs = [...h.runner.submitted];
    await Promise.all(
      jobs.map(async (job) => {
        for (let step = 1; step <= 4; step++) await h.runner.progress(job.id, step, 4);
        await h.runner.complete(job.id);
      }),
    );
    await eventually(() => jobs.every((job) => fake.messages.get(job.conversation.statusMessageId!)?.text === 'Done'), 120_000, 'every card done');
    const times = fake.callsTo('chat.update').map((c) => c.at);
    let busiest = 0;
    for (const t of times) busiest = Math.max(busiest, times.filter((u) => u >= t && u < t + BUDGET.windowMs).length);
    expect(busiest).toBeLessThanOrEqual(BUDGET.edits);
    expect(times.length).toBeGreaterThanOrEqual(PEOPLE);
    expect(fake.calls.filter((c) => c.rateLimited)).toHaveLength(0);
    console.log(`slack edit budget: ${times.length} chat.update for ${PEOPLE} jobs, at most ${busiest} in ${BUDGET.windowMs} ms`);
  });
});
