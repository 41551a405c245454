// DynamoJobStore against moto with infra's key schema: conditional transitions, dedupe, TTL, listings.
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../bot/aws/dynamodb.js';
import type { Job } from '../../bot/core/job.js';
import { sampleJob } from '../support/fixtures.js';
import { ManualClock } from '../support/harness.js';
import { REGION, createResources, startMoto, useDummyCredentials, type AwsResources, type Moto } from './moto.js';

let n = 0;
function newJob(clock: ManualClock, over: Partial<Job> = {}): Job {
  const id = `d${String(++n).padStart(4, '0')}`;
  return sampleJob(id, { conversation: { platform: 'slack', channelId: 'C1', threadId: '1.2' }, createdAt: clock.now(), updatedAt: clock.now(), ...over });
}

describe('DynamoJobStore', () => {
  let moto: Moto;
  let res: AwsResources;
  let base: DynamoDBClient;
  let store: DynamoJobStore;
  const clock = new ManualClock();

  beforeAll(async () => {
    useDummyCredentials();
    moto = await startMoto();
    res = await createResources(moto.url, 'ddb');
    base = new DynamoDBClient({ region: REGION, endpoint: moto.url });
    const client = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
    store = new DynamoJobStore({ client, tableName: res.table, clock, ttlDays: 30 });
  });
  afterAll(async () => {
    base?.destroy();
    await moto?.stop();
  });

  it('stores the job with its keys, index keys and TTL, and reads it back unchanged', async () => {
    const job = newJob(clock);
    expect(await store.create(job)).toEqual({ created: true, job });
    expect(await store.get(job.id)).toEqual(job);
    const item = (await base.send(new GetItemCommand({ TableName: res.table, Key: { pk: { S: `JOB#${job.id}` }, sk: { S: 'JOB' } } }))).Item!;
    expect(item.gsi1pk?.S).toBe('USER#slack#U1');
    expect(item.gsi1sk?.S).toBe(`${String(job.createdAt).padStart(15, '0')}#${job.id}`);
    expect(Number(item.expiresAt?.N)).toBe(Math.floor(job.createdAt / 1000) + 30 * 86400);
    expect(await store.get('missing')).toBeUndefined();
  });

  it('returns the first job for a repeated request key', async () => {
    const first = newJob(clock, { requestKey: 'slack:trigger-1' });
    const second = newJob(clock, { requestKey: 'slack:trigger-1' });
    expect((await store.create(first)).created).toBe(true);
    const again = await store.create(second);
    expect(again).toEqual({ created: false, job: first });
    expect(await store.get(second.id)).toBeUndefined();
  });

  it('moves a job only from the expected state and version', async () => {
    const job = newJob(clock);
    await store.create(job);
    clock.advance(1000);
    const next = await store.transition(job.id, ['queued'], 'submitting');
    expect(next).toMatchObject({ state: 'submitting', version: 2, updatedAt: clock.now() });
    expect(await store.transition(job.id, ['queued'], 'enhancing')).toBeUndefined();
    expect(await store.transition(job.id, ['submitting'], 'starting', { runnerRef: 'x' }, 1)).toBeUndefined();
    const started = await store.transition(job.id, ['submitting'], 'starting', { runnerRef: 'videobot-x', attempts: 1 }, 2);
    expect(started).toMatchObject({ state: 'starting', runnerRef: 'videobot-x', attempts: 1, version: 3 });
    expect(await store.get(job.id)).toEqual(started);
  });

  it('lets exactly one of several concurrent transitions from the same state win', async () => {
    const job = newJob(clock, { state: 'starting', runnerRef: 'r' });
    await store.create(job);
    const targets = ['running', 'failed', 'cancelled', 'encoding', 'uploading', 'queued'] as const;
    const results = await Promise.all(targets.map((to) => store.transition(job.id, ['starting'], to)));
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    expect((await store.get(job.id))?.state).toBe(winners[0]!.state);
    expect((await store.get(job.id))?.version).toBe(2);
  });

  it('saves progress only in the given states', async () => {
    const job = newJob(clock, { state: 'running' });
    await store.create(job);
    const progress = { phase: 'denoising', step: 3, total: 10, etaS: 21, elapsedS: 9 };
    expect(await store.saveProgress(job.id, ['running'], progress)).toBe(true);
    expect(await store.get(job.id)).toMatchObject({ progress, version: 2 });
    expect(await store.saveProgress(job.id, ['encoding'], progress)).toBe(false);
    expect(await store.saveProgress('missing', ['running'], progress)).toBe(false);
    // A progress write between read and write does not make a transition from the same state fail.
    expect(await store.transition(job.id, ['running'], 'encoding')).toMatchObject({ state: 'encoding', version: 3 });
  });

  it('lists unfinished jobs by state, consistently, and drops them when they finish', async () => {
    const before = await store.listByState(['queued', 'submitting', 'starting', 'running', 'encoding', 'uploading', 'enhancing']);
    const a = newJob(clock, { createdAt: clock.now() + 1 });
    const b = newJob(clock, { createdAt: clock.now() + 2 });
    await store.create(a);
    await store.create(b);
    const queued = await store.listByState(['queued']);
    expect(queued.map((j) => j.id).slice(-2)).toEqual([a.id, b.id]);
    await store.transition(a.id, ['queued'], 'cancelled', { finishedAt: clock.now() });
    expect((await store.listByState(['queued'])).map((j) => j.id)).not.toContain(a.id);
    expect((await store.listByState(['cancelled'])).map((j) => j.id)).toContain(a.id);
    const after = await store.listByState(['queued', 'submitting', 'starting', 'running', 'encoding', 'uploading', 'enhancing']);
    expect(after.length).toBe(before.length + 1);
  });

  it('lists a user\'s jobs newest first and counts deliveries in a window', async () => {
    const user = { platform: 'discord' as const, userId: `u${Date.now()}` };
    const t0 = clock.now();
    const jobs = [0, 1, 2].map((i) => newJob(clock, { requester: user, createdAt: t0 + i * 1000 }));
    for (const j of jobs) await store.create(j);
    expect((await store.listByUser('discord', user.userId, 2)).map((j) => j.id)).toEqual([jobs[2]!.id, jobs[1]!.id]);
    for (const [i, j] of jobs.entries()) {
      await store.transition(j.id, ['queued'], 'submitting');
      await store.transition(j.id, ['submitting'], 'uploading');
      await store.transition(j.id, ['uploading'], 'delivered', { finishedAt: t0 + i * 10_000 });
    }
    expect(await store.countDeliveredSince('discord', user.userId, t0 + 5_000)).toBe(2);
    expect(await store.countDeliveredSince('discord', user.userId, t0)).toBe(3);
    expect(await store.countDeliveredSince('slack', user.userId, t0)).toBe(0);
  });
});
