// DynamoJobStore against moto with infra's key schema: the JobStore contract, plus the item layout (keys, TTL, index,
// the LIVE list and request-key items).
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JOB_TABLE } from '../../bot/aws/table-layout.js';
import { DynamoJobStore } from '../../bot/aws/dynamodb.js';
import type { Job } from '../../bot/core/job.js';
import { sampleJob } from '../support/fixtures.js';
import { ManualClock } from '../support/harness.js';
import { describeJobStoreContract } from '../support/job-store-contract.js';
import { describeSettingsStoreContract } from '../support/settings-store-contract.js';
import { REGION, createJobTable, uniqueSuffix, useDummyCredentials, useMoto, type Moto } from './moto.js';

let n = 0;
function newJob(clock: ManualClock, over: Partial<Job> = {}): Job {
  const id = `d${String(++n).padStart(4, '0')}`;
  return sampleJob(id, { conversation: { platform: 'slack', channelId: 'C1', threadId: '1.2' }, createdAt: clock.now(), updatedAt: clock.now(), ...over });
}

/**
 * Sends one request at a time. moto's threaded server checks a write's condition and writes without a lock (and rolls
 * a failed transaction back by restoring a copy of the table), so two racing conditional writes to one item can both
 * succeed there, about one run in fifty; DynamoDB serialises them. Queueing requests gives moto that guarantee.
 */
function oneRequestAtATime(client: DynamoDBClient): DynamoDBClient {
  let tail: Promise<unknown> = Promise.resolve();
  client.middlewareStack.add(
    (next) => (args) => {
      const sent = tail.then(() => next(args));
      tail = sent.catch(() => undefined);
      return sent;
    },
    { step: 'initialize', name: 'oneRequestAtATime' },
  );
  return client;
}

describe('DynamoJobStore', () => {
  let moto: Moto;
  let base: DynamoDBClient;
  let client: DynamoDBDocumentClient;
  let serialBase: DynamoDBClient;
  let serialClient: DynamoDBDocumentClient;
  /**
   * A table per test, not one for the file: moto copies the whole table for every item of a transaction (to roll it
   * back), and scans all of it for an index query, so on a table that grew through the file the last tests took
   * seconds each. The tables stay until moto stops (a few small ones; dropping each cost a request per test).
   */
  let table = '';
  const suffix = uniqueSuffix('ddb');
  let tables = 0;
  const freshTable = async () => {
    table = `videobot-jobs-${suffix}-${++tables}`;
    await createJobTable(moto.url, table);
  };
  const open = (clock: ManualClock, c = client) => new DynamoJobStore({ client: c, tableName: table, clock, ttlDays: 30 });

  beforeAll(async () => {
    useDummyCredentials();
    moto = await useMoto();
    base = new DynamoDBClient({ region: REGION, endpoint: moto.url });
    client = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
    serialBase = oneRequestAtATime(new DynamoDBClient({ region: REGION, endpoint: moto.url }));
    serialClient = DynamoDBDocumentClient.from(serialBase, { marshallOptions: { removeUndefinedValues: true } });
  });
  afterAll(async () => {
    base?.destroy();
    serialBase?.destroy();
    await moto?.stop();
  });

  // Each contract test on a table of its own. Its racing writers still race: all of them read before any of them
  // writes.
  const openOnFreshTable = async (c: DynamoDBDocumentClient) => {
    const clock = new ManualClock();
    await freshTable();
    return { store: open(clock, c), clock, close: async () => {} };
  };
  describeJobStoreContract('DynamoJobStore', () => openOnFreshTable(serialClient));
  describeSettingsStoreContract('DynamoJobStore', () => openOnFreshTable(client));

  describe('item layout', () => {
    beforeEach(freshTable);

    const item = async (pk: string, sk: string) =>
      (await base.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }))).Item;

    it('runs on a table laid out as bot/aws/table-layout.ts says, which the CDK construct reads too', async () => {
      const described = (await base.send(new DescribeTableCommand({ TableName: table }))).Table!;
      expect(described.KeySchema).toEqual([
        { AttributeName: JOB_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: JOB_TABLE.sortKey, KeyType: 'RANGE' },
      ]);
      expect(described.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.KeySchema, i.Projection?.ProjectionType])).toEqual([
        [JOB_TABLE.userIndex.name, [{ AttributeName: JOB_TABLE.userIndex.partitionKey, KeyType: 'HASH' }, { AttributeName: JOB_TABLE.userIndex.sortKey, KeyType: 'RANGE' }], 'ALL'],
        [JOB_TABLE.conversationIndex.name, [{ AttributeName: JOB_TABLE.conversationIndex.partitionKey, KeyType: 'HASH' }, { AttributeName: JOB_TABLE.conversationIndex.sortKey, KeyType: 'RANGE' }], 'ALL'],
      ]);
      const ttl = await base.send(new DescribeTimeToLiveCommand({ TableName: table }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: JOB_TABLE.ttlAttribute, TimeToLiveStatus: 'ENABLED' });
    });

    it('stores the job with its keys, index keys and TTL, and reads it back unchanged', async () => {
      const clock = new ManualClock();
      const store = open(clock);
      const job = newJob(clock);
      expect(await store.create(job)).toEqual({ created: true, job });
      expect(await store.get(job.id)).toEqual(job);
      const stored = (await item(`JOB#${job.id}`, 'JOB'))!;
      expect(stored.gsi1pk?.S).toBe('USER#slack#U1');
      expect(stored.gsi1sk?.S).toBe(`${String(job.createdAt).padStart(15, '0')}#${job.id}`);
      expect(Number(stored.expiresAt?.N)).toBe(Math.floor(job.createdAt / 1000) + 30 * 86400);
    });

    it('keeps a LIVE item while the job is unfinished and a REQ item for its request key, both with the TTL', async () => {
      const clock = new ManualClock();
      const store = open(clock);
      const job = newJob(clock, { requestKey: `slack:trigger-${n}` });
      await store.create(job);
      const expiresAt = String(Math.floor(job.createdAt / 1000) + 30 * 86400);
      expect(await item('LIVE', `JOB#${job.id}`)).toMatchObject({ jobId: { S: job.id }, expiresAt: { N: expiresAt } });
      expect(await item(`REQ#${job.requestKey}`, 'REQ')).toMatchObject({ jobId: { S: job.id }, expiresAt: { N: expiresAt } });
      await store.transition(job.id, ['queued'], 'submitting');
      expect(await item('LIVE', `JOB#${job.id}`)).toBeDefined();
      await store.transition(job.id, ['submitting'], 'cancelled', { finishedAt: clock.now() });
      expect(await item('LIVE', `JOB#${job.id}`)).toBeUndefined();
      expect(await item(`REQ#${job.requestKey}`, 'REQ')).toBeDefined();
      // A job created final never enters the LIVE list.
      const done = newJob(clock, { state: 'delivered', finishedAt: clock.now() });
      await store.create(done);
      expect(await item('LIVE', `JOB#${done.id}`)).toBeUndefined();
      expect((await store.listByState(['delivered'])).map((j) => j.id)).toContain(done.id);
    });

    it('keeps a slot hold as a HOLD item of the owner, bumps the owner\'s SLOTS version, and deletes the hold with the job\'s create', async () => {
      const clock = new ManualClock();
      const store = open(clock);
      const userId = `U-slots-${++n}`;
      const owner = `USER#slack#${userId}`;
      const hold = { id: `h${n}`, owner: { platform: 'slack' as const, userId }, expiresAt: clock.now() + 60_000 };
      const limits = { maxLive: 2, dailyQuota: 0, deliveredSince: 0 };
      expect(await store.reserve(hold, limits)).toEqual({ held: true });
      expect(await item(owner, `HOLD#${hold.id}`)).toMatchObject({ holdUntil: { N: String(hold.expiresAt) }, expiresAt: { N: String(Math.ceil(hold.expiresAt / 1000)) } });
      expect(await item(owner, 'SLOTS')).toMatchObject({ version: { N: '1' } });
      expect(await store.reserve({ ...hold, id: `h${n}b` }, limits)).toEqual({ held: true });
      expect(await item(owner, 'SLOTS')).toMatchObject({ version: { N: '2' } });

      const job = newJob(clock, { requester: { platform: 'slack', userId } });
      await store.create(job, hold);
      expect(await item(owner, `HOLD#${hold.id}`)).toBeUndefined();
      expect(await item('LIVE', `JOB#${job.id}`)).toMatchObject({ owner: { S: owner } });
      // A refusal writes nothing.
      expect(await store.reserve({ ...hold, id: `h${n}c` }, limits)).toMatchObject({ held: false, reason: 'live', inProgress: 2 });
      expect(await item(owner, `HOLD#h${n}c`)).toBeUndefined();
      expect(await item(owner, 'SLOTS')).toMatchObject({ version: { N: '2' } });
    });

    it('counts a live job written before LIVE items carried their owner', async () => {
      const clock = new ManualClock();
      const store = open(clock);
      const userId = `U-legacy-${++n}`;
      const job = newJob(clock, { requester: { platform: 'slack', userId } });
      await store.create(job);
      await base.send(
        new UpdateItemCommand({ TableName: table, Key: { pk: { S: 'LIVE' }, sk: { S: `JOB#${job.id}` } }, UpdateExpression: 'REMOVE #owner', ExpressionAttributeNames: { '#owner': 'owner' } }),
      );
      const hold = { id: `h${n}`, owner: { platform: 'slack' as const, userId }, expiresAt: clock.now() + 60_000 };
      expect(await store.reserve(hold, { maxLive: 1, dailyQuota: 0, deliveredSince: 0 })).toMatchObject({ held: false, reason: 'live', inProgress: 1 });
    });
  });
});

describe('DynamoJobStore.create under a transaction conflict', () => {
  it('tries again when both racing creates were cancelled, instead of failing the request', async () => {
    const { TransactionCanceledException } = await import('@aws-sdk/client-dynamodb');
    const sent: string[] = [];
    let conflicts = 2;
    const client = {
      send: async (command: { constructor: { name: string } }) => {
        sent.push(command.constructor.name);
        if (command.constructor.name === 'TransactWriteCommand' && conflicts-- > 0) {
          throw new TransactionCanceledException({
            message: 'Transaction cancelled',
            $metadata: {},
            CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }, { Code: 'None' }],
          });
        }
        return {};
      },
    };
    const store = new DynamoJobStore({ client: client as never, tableName: 't', clock: new ManualClock(), ttlDays: 1 });
    const outcome = await store.create(sampleJob('c1', { requestKey: 'k-conflict' }));
    expect(outcome.created).toBe(true);
    expect(sent.filter((n) => n === 'TransactWriteCommand')).toHaveLength(3);
  });
});
