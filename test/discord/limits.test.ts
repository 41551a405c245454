// Failures, Retry and the shared access rules (allow-list, per-user limit, daily quota) as Discord users meet them.
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/harness.js';
import { ALICE, BOB } from './fake-discord.js';
import { buttonIds, prompt, replyText, startWorld, startedJob, type DiscordWorld } from './setup.js';

describe('Discord failures and limits', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  it('shows a failure in plain words with Retry, and Retry makes the same video again (same seed) under a new status message', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('a storm at sea'), { name: 'seed', type: 4, value: 9 }]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.fail(jobId, 'GPU_OUT_OF_MEMORY', 'The GPU ran out of memory. Try fewer frames or a smaller model.', true);
    await eventually(() => status.content.includes('Failed: The GPU ran out of memory'), 5000, 'failure status');
    expect(buttonIds(status)).toEqual([`vb:retry:${jobId}`, `vb:edit:${jobId}`, `vb:details:${jobId}`]);

    const retry = await w.fake.clickButton(status, `vb:retry:${jobId}`);
    const again = await startedJob(w, retry);
    expect(again.jobId).not.toBe(jobId);
    expect(again.status.id).not.toBe(status.id);
    expect((await w.h.service.get(again.jobId))?.params).toMatchObject({ prompt: 'a storm at sea', seed: 9 });
  });

  it('takes a double click on Retry as one click: one new video, and a private word for the second click', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('a storm at sea')]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.fail(jobId, 'GPU_OUT_OF_MEMORY', 'The GPU ran out of memory.', true);
    await eventually(() => buttonIds(status).includes(`vb:retry:${jobId}`), 5000, 'retry button');

    const first = await w.fake.clickButton(status, `vb:retry:${jobId}`);
    const second = await w.fake.clickButton(status, `vb:retry:${jobId}`);
    await startedJob(w, first);
    expect(await replyText(w, second)).toBe('You clicked that a moment ago; one new video is already on its way.');
    expect(w.fake.originalOf(second)!.flags & 64).toBe(64);
    await eventually(() => w.h.runner.submitted.length === 2, 5000, 'retried job');
    expect(w.fake.channelMessages(w.fake.channelId)).toHaveLength(2); // the two jobs' status messages, no third
  });

  it('offers no Retry where retrying cannot help', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('a storm at sea')]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.fail(jobId, 'INVALID_JOB', 'The job file was rejected: frames must be 49 for this model.', false);
    await eventually(() => status.content.includes('Failed: The job file was rejected'), 5000, 'failure status');
    expect(buttonIds(status)).toEqual([`vb:edit:${jobId}`, `vb:details:${jobId}`]);
  });

  it('refuses someone not on the allow-list, privately, before posting anything', async () => {
    w = await startWorld({}, { access: { allowedUsers: [`discord:${BOB.id}`] } });
    const id = await w.fake.slashCommand('video', [prompt('a bee')], { user: ALICE });
    expect(await replyText(w, id)).toMatch(/not on the list of people who can make videos/);
    expect(w.fake.originalOf(id)!.flags & 64).toBe(64);
    expect(w.fake.channelMessages(w.fake.channelId)).toHaveLength(0);
    expect(w.h.runner.submitted).toHaveLength(0);
  });

  it('enforces the per-user concurrent limit with a clear ephemeral message', async () => {
    w = await startWorld({}, { access: { maxJobsPerUser: 1 } });
    const first = await w.fake.slashCommand('video', [prompt('one')]);
    await startedJob(w, first);
    const second = await w.fake.slashCommand('video', [prompt('two')]);
    expect(await replyText(w, second)).toBe('You already have 1 video in progress; the limit is 1 at a time. Wait for one to finish or cancel it.');
    expect(w.fake.originalOf(second)!.flags & 64).toBe(64);
    expect(w.fake.channelMessages(w.fake.channelId)).toHaveLength(1); // the first job's status message only
  });

  it('counts only delivered videos against the daily quota, and says when the next one is possible', async () => {
    w = await startWorld({}, { access: { dailyQuota: 1 } });
    const failed = await startedJob(w, await w.fake.slashCommand('video', [prompt('one')]));
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.fail(failed.jobId, 'GPU_OUT_OF_MEMORY', 'The GPU ran out of memory.', true);
    await eventually(async () => (await w.h.service.get(failed.jobId))?.state === 'failed', 5000, 'failed');

    // The failed job did not use the quota.
    const delivered = await startedJob(w, await w.fake.slashCommand('video', [prompt('two')]));
    await eventually(() => w.h.runner.submitted.length === 2, 5000, 'runner submit');
    await w.h.runner.complete(delivered.jobId);
    await eventually(async () => (await w.h.service.get(delivered.jobId))?.state === 'delivered', 5000, 'delivered');

    const refused = await w.fake.slashCommand('video', [prompt('three')]);
    expect(await replyText(w, refused)).toBe('You have made 1 video in the last 24 hours, the daily limit. You can make another in about 24 hours.');
    expect(w.h.runner.submitted).toHaveLength(2);
  });
});
