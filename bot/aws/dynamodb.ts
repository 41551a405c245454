// JobStore on one DynamoDB table: every transition a conditional write, a TTL, a per-user index, a live-job list.
//
// Items (pk / sk; the key, index and TTL attribute names come from table-layout.ts, which infra and the tests read too):
//   JOB#<id> / JOB        the job; gsi1pk = USER#<platform>#<userId>, gsi1sk = <createdAt, 15 digits>#<id> (index byUser);
//                         once delivered also gsi2pk = CONV#<platform>#<channelId>#<threadId>, gsi2sk = gsi1sk (index byConversation)
//   REQ#<requestKey> / REQ  the request key's owner; written with the job so a platform retry finds the first job
//   LIVE / JOB#<id>       present while the job is unfinished; written with the job, deleted in the same
//                         transaction that makes it final, so listByState reads one small partition consistently;
//                         carries the owner (`owner` = USER#<platform>#<userId>) so reserve counts them consistently
//   USER#<platform>#<userId> / HOLD#<id>  a slot hold (reserve), deleted in the transaction that creates its job
//   USER#<platform>#<userId> / SLOTS      the owner's reservation counter: every successful reserve bumps
//                         `version` conditionally, so reserves of one person are serialised (see reserve)
//   USER#<platform>#<userId> / STANDING   what admins set about the person (banned, quotaResetAt) and their refusals
//   SETTINGS / BLOCK#<term>  one blocked term (normalised);  SETTINGS / COUNTERS  the refusal counter
// Every job item carries `expiresAt` (epoch seconds), the table's TTL attribute; settings never expire.
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { Job, JobPatch, JobProgress, JobState, Platform } from '../core/job.js';
import { FINAL_STATES, applyTransition, isFinal } from '../core/job.js';
import { JOB_TABLE, TABLE_ATTRIBUTES } from './table-layout.js';
import type { ConversationKey, CreateOutcome, JobStore, Reservation, SettingsStore, SlotHold, SlotLimits, SlotOwner, TimeSource, UserStanding } from '../core/ports.js';

export interface DynamoJobStoreOptions {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly clock: TimeSource;
  /** VIDEOBOT_JOB_TTL_DAYS: DynamoDB deletes a job this long after it was created. */
  readonly ttlDays: number;
  readonly userIndexName?: string;
  readonly conversationIndexName?: string;
}

type Item = Record<string, unknown>;

const { partitionKey: PK, sortKey: SK, userIndex: USER_INDEX, conversationIndex: CONVERSATION_INDEX, ttlAttribute: TTL } = JOB_TABLE;
/** An item's place in the table. */
const itemKey = (partition: string, sort: string) => ({ [PK]: partition, [SK]: sort });
const LIVE_PK = 'LIVE';
/** Writers that lose a race re-read and decide again; more than a few rounds means something is wrong. */
const MAX_CAS_ROUNDS = 8;

const jobKey = (id: string) => itemKey(`JOB#${id}`, 'JOB');
const liveKey = (id: string) => itemKey(LIVE_PK, `JOB#${id}`);
const requestKeyKey = (key: string) => itemKey(`REQ#${key}`, 'REQ');
const userPartition = (platform: Platform, userId: string) => `USER#${platform}#${userId}`;
const conversationPartition = (c: ConversationKey) => `CONV#${c.platform}#${c.channelId}#${c.threadId ?? ''}`;
const createdSortKey = (job: Pick<Job, 'createdAt' | 'id'>) => `${String(job.createdAt).padStart(15, '0')}#${job.id}`;
const holdKey = (hold: SlotHold) => itemKey(userPartition(hold.owner.platform, hold.owner.userId), `HOLD#${hold.id}`);
const slotsKey = (owner: string) => itemKey(owner, 'SLOTS');
const standingKey = (owner: SlotOwner) => itemKey(userPartition(owner.platform, owner.userId), 'STANDING');
const SETTINGS_PK = 'SETTINGS';
const blockKey = (term: string) => itemKey(SETTINGS_PK, `BLOCK#${term}`);
const countersKey = itemKey(SETTINGS_PK, 'COUNTERS');

export class DynamoJobStore implements JobStore, SettingsStore {
  private readonly index: string;

  constructor(private readonly options: DynamoJobStoreOptions) {
    this.index = options.userIndexName ?? USER_INDEX.name;
  }

  private get table(): string {
    return this.options.tableName;
  }

  async create(job: Job, hold?: SlotHold): Promise<CreateOutcome> {
    const expiresAt = this.expiresAt(job.createdAt);
    const owner = userPartition(job.requester.platform, job.requester.userId);
    const items = [
      { Put: { TableName: this.table, Item: this.toItem(job), ConditionExpression: `attribute_not_exists(${PK})` } },
      ...(isFinal(job.state)
        ? []
        : [{ Put: { TableName: this.table, Item: { ...liveKey(job.id), jobId: job.id, owner, createdAt: job.createdAt, [TTL]: expiresAt } } }]),
      ...(hold ? [{ Delete: { TableName: this.table, Key: holdKey(hold) } }] : []),
      ...(job.requestKey
        ? [
            {
              Put: {
                TableName: this.table,
                Item: { ...requestKeyKey(job.requestKey), jobId: job.id, [TTL]: expiresAt },
                ConditionExpression: `attribute_not_exists(${PK})`,
              },
            },
          ]
        : []),
    ];
    // Two creates racing on one request key can both be cancelled with TransactionConflict and neither wins;
    // try again until one does, then the other finds its job.
    for (let round = 1; ; round++) {
      try {
        await this.options.client.send(new TransactWriteCommand({ TransactItems: items }));
        return { created: true, job };
      } catch (err) {
        if (!(err instanceof TransactionCanceledException) || !job.requestKey) throw err;
        const keyOwner = await this.options.client.send(
          new GetCommand({ TableName: this.table, Key: requestKeyKey(job.requestKey), ConsistentRead: true }),
        );
        const existing = typeof keyOwner.Item?.jobId === 'string' ? await this.get(keyOwner.Item.jobId) : undefined;
        if (existing) {
          if (hold) await this.release(hold);
          return { created: false, job: existing };
        }
        const conflict = (err.CancellationReasons ?? []).some((r) => r.Code === 'TransactionConflict');
        if (!conflict || round >= MAX_CAS_ROUNDS) throw err;
        await new Promise((r) => setTimeout(r, 20 * round + Math.random() * 30));
      }
    }
  }

  async findByRequestKey(requestKey: string): Promise<Job | undefined> {
    const out = await this.options.client.send(new GetCommand({ TableName: this.table, Key: requestKeyKey(requestKey), ConsistentRead: true }));
    return typeof out.Item?.jobId === 'string' ? this.get(out.Item.jobId) : undefined;
  }

  /**
   * Optimistic, per person: read the SLOTS counter's version, count holds and live jobs (consistent reads), then
   * write the hold together with version + 1 on the condition that the version is still the one read. Two
   * reserves of one person that overlap cannot both write; the loser counts again. Nothing else raises the
   * count (create turns a hold into a live job in one transaction; final states only lower it), so a count
   * read before the write is never too low. Holds are read before live jobs for the same reason: a hold that
   * becomes a job in between is counted twice (too high), never not at all. The delivered count comes from the
   * user index, which is eventually consistent: a video delivered within about a second may be missed.
   */
  async reserve(hold: SlotHold, limits: SlotLimits): Promise<Reservation> {
    const owner = userPartition(hold.owner.platform, hold.owner.userId);
    const now = this.options.clock.now();
    for (let round = 1; ; round++) {
      const slots = await this.options.client.send(new GetCommand({ TableName: this.table, Key: slotsKey(owner), ConsistentRead: true }));
      const version = typeof slots.Item?.version === 'number' ? slots.Item.version : 0;
      const held = await this.countHolds(owner, now);
      const live = await this.countLive(owner, hold.owner.platform, hold.owner.userId);
      const inProgress = held + live;
      const delivered = limits.dailyQuota > 0 ? await this.countDeliveredSince(hold.owner.platform, hold.owner.userId, limits.deliveredSince) : 0;
      if (inProgress >= limits.maxLive) return { held: false, reason: 'live', inProgress, delivered };
      if (limits.dailyQuota > 0 && delivered + inProgress >= limits.dailyQuota) return { held: false, reason: 'quota', inProgress, delivered };
      try {
        await this.options.client.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: { ...slotsKey(owner), version: version + 1, [TTL]: this.expiresAt(now) },
                  ConditionExpression: `attribute_not_exists(${PK}) OR #version = :version`,
                  ExpressionAttributeNames: { '#version': 'version' },
                  ExpressionAttributeValues: { ':version': version },
                },
              },
              { Put: { TableName: this.table, Item: { ...holdKey(hold), holdUntil: hold.expiresAt, [TTL]: Math.ceil(hold.expiresAt / 1000) } } },
            ],
          }),
        );
        return { held: true };
      } catch (err) {
        if (!lostRace(err) || round >= MAX_CAS_ROUNDS * 4) throw err;
        await new Promise((r) => setTimeout(r, 10 * Math.min(round, 10) + Math.random() * 20));
      }
    }
  }

  async release(hold: SlotHold): Promise<void> {
    await this.options.client.send(new DeleteCommand({ TableName: this.table, Key: holdKey(hold) }));
  }

  private countHolds(owner: string, now: number): Promise<number> {
    return this.countAll({
      TableName: this.table,
      KeyConditionExpression: `${PK} = :owner AND begins_with(${SK}, :hold)`,
      FilterExpression: 'holdUntil > :now',
      ExpressionAttributeValues: { ':owner': owner, ':hold': 'HOLD#', ':now': now },
      ConsistentRead: true,
    });
  }

  /** Every item a query matches, over all its pages. */
  private async queryAll(input: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** Jobs a query matches (kept by `keep`), page after page until `limit` are found; the first `limit`. */
  private async queryJobsUntil(
    input: Omit<QueryCommandInput, 'ExclusiveStartKey'>,
    limit: number,
    keep: (job: Job) => boolean = () => true,
  ): Promise<Job[]> {
    const jobs: Job[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      jobs.push(...(page.Items ?? []).map(fromItem).filter(keep));
      start = page.LastEvaluatedKey;
    } while (start && jobs.length < limit);
    return jobs.slice(0, limit);
  }

  /** Counts what a query matches over all its pages (a page stops at 1 MB read, matches or not). */
  private async countAll(input: Omit<QueryCommandInput, 'Select' | 'ExclusiveStartKey'>): Promise<number> {
    let count = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(new QueryCommand({ ...input, Select: 'COUNT', ExclusiveStartKey: start }));
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return count;
  }

  /** The owner's unfinished jobs, from the LIVE partition (consistent). Entries written before `owner` existed are looked up. */
  private async countLive(owner: string, platform: Platform, userId: string): Promise<number> {
    let count = 0;
    const unknown: string[] = [];
    const entries = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: `${PK} = :live`,
      FilterExpression: '#owner = :owner OR attribute_not_exists(#owner)',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':live': LIVE_PK, ':owner': owner },
      ConsistentRead: true,
    });
    for (const item of entries) {
      if (item.owner === owner) count++;
      else if (typeof item.jobId === 'string') unknown.push(item.jobId);
    }
    if (unknown.length > 0) {
      const jobs = await this.batchGetJobs(unknown);
      count += jobs.filter((j) => !isFinal(j.state) && j.requester.platform === platform && j.requester.userId === userId).length;
    }
    return count;
  }

  async get(id: string): Promise<Job | undefined> {
    const out = await this.options.client.send(new GetCommand({ TableName: this.table, Key: jobKey(id), ConsistentRead: true }));
    return out.Item ? fromItem(out.Item) : undefined;
  }

  async transition(id: string, from: readonly JobState[], to: JobState, patch?: JobPatch, expectVersion?: number): Promise<Job | undefined> {
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const job = await this.get(id);
      if (!job || !from.includes(job.state)) return undefined;
      if (expectVersion !== undefined && job.version !== expectVersion) return undefined;
      const next = applyTransition(job, to, patch, this.options.clock.now());
      const put = {
        TableName: this.table,
        Item: this.toItem(next),
        // The state we read, and no other write since (every write bumps the version).
        ConditionExpression: '#state = :state AND #version = :version',
        ExpressionAttributeNames: { '#state': 'state', '#version': 'version' },
        ExpressionAttributeValues: { ':state': job.state, ':version': job.version },
      };
      try {
        if (isFinal(to) && !isFinal(job.state)) {
          await this.options.client.send(
            new TransactWriteCommand({ TransactItems: [{ Put: put }, { Delete: { TableName: this.table, Key: liveKey(id) } }] }),
          );
        } else {
          await this.options.client.send(new PutCommand(put));
        }
        return next;
      } catch (err) {
        // Someone else wrote first: read again and decide on the fresh state.
        if (!lostRace(err)) throw err;
      }
    }
    throw new Error(`job ${id}: gave up after ${MAX_CAS_ROUNDS} contended writes`);
  }

  async saveProgress(id: string, states: readonly JobState[], progress: JobProgress): Promise<boolean> {
    if (states.length === 0) return false;
    const names = states.map((_, i) => `:s${i}`);
    try {
      await this.options.client.send(
        new UpdateCommand({
          TableName: this.table,
          Key: jobKey(id),
          UpdateExpression: 'SET progress = :progress, updatedAt = :now ADD #version :one',
          ConditionExpression: `attribute_exists(${PK}) AND #state IN (${names.join(', ')})`,
          ExpressionAttributeNames: { '#state': 'state', '#version': 'version' },
          ExpressionAttributeValues: {
            ':progress': progress,
            ':now': this.options.clock.now(),
            ':one': 1,
            ...Object.fromEntries(states.map((s, i) => [names[i]!, s])),
          },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async listByUser(platform: Platform, userId: string, limit: number): Promise<Job[]> {
    const out = await this.options.client.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: this.index,
        KeyConditionExpression: `${USER_INDEX.partitionKey} = :user`,
        ExpressionAttributeValues: { ':user': userPartition(platform, userId) },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    const items = out.Items ?? [];
    // With a KEYS_ONLY or INCLUDE projection the index lacks the job; fetch it from the table.
    if (items.every((i) => 'params' in i)) return items.map(fromItem);
    const jobs = await this.batchGetJobs(items.map((i) => String(i[PK]).slice('JOB#'.length)));
    return jobs.sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id));
  }

  async listByState(states: readonly JobState[]): Promise<Job[]> {
    if (states.length === 0) return [];
    let jobs: Job[];
    if (states.some((s) => FINAL_STATES.includes(s))) {
      jobs = await this.scanByState(states);
    } else {
      const entries = await this.queryAll({ TableName: this.table, KeyConditionExpression: `${PK} = :live`, ExpressionAttributeValues: { ':live': LIVE_PK }, ConsistentRead: true });
      const ids = entries.flatMap((item) => (typeof item.jobId === 'string' ? [item.jobId] : []));
      jobs = (await this.batchGetJobs(ids)).filter((j) => states.includes(j.state));
    }
    return jobs.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  countDeliveredSince(platform: Platform, userId: string, sinceMs: number): Promise<number> {
    return this.countAll({
      TableName: this.table,
      IndexName: this.index,
      KeyConditionExpression: `${USER_INDEX.partitionKey} = :user`,
      FilterExpression: '#state = :delivered AND finishedAt >= :since',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':user': userPartition(platform, userId), ':delivered': 'delivered', ':since': sinceMs },
    });
  }

  /** The user index, newest first, filtered to delivered jobs; pages on until `limit` are found (a page's Limit counts before the filter). */
  async listDeliveredByUser(platform: Platform, userId: string, limit: number): Promise<Job[]> {
    return this.queryJobsUntil(
      {
        TableName: this.table,
        IndexName: this.index,
        KeyConditionExpression: `${USER_INDEX.partitionKey} = :user`,
        FilterExpression: '#state = :delivered',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':user': userPartition(platform, userId), ':delivered': 'delivered' },
        ScanIndexForward: false,
        Limit: Math.max(limit, 25),
      },
      limit,
    );
  }

  /** The sparse conversation index, oldest first (an index read: a video delivered a moment ago may be missing). */
  async listDeliveredInConversation(conversation: ConversationKey, limit: number): Promise<Job[]> {
    // Only delivered jobs are in the index; a job expired from the table may linger there a while.
    return this.queryJobsUntil(
      {
        TableName: this.table,
        IndexName: this.options.conversationIndexName ?? CONVERSATION_INDEX.name,
        KeyConditionExpression: `${CONVERSATION_INDEX.partitionKey} = :conversation`,
        ExpressionAttributeValues: { ':conversation': conversationPartition(conversation) },
        ScanIndexForward: true,
        Limit: limit,
      },
      limit,
      (j) => j.state === 'delivered',
    );
  }

  async blockedTerms(): Promise<string[]> {
    const items = await this.queryAll({
      TableName: this.table,
      KeyConditionExpression: `${PK} = :settings AND begins_with(${SK}, :block)`,
      ExpressionAttributeValues: { ':settings': SETTINGS_PK, ':block': 'BLOCK#' },
      ConsistentRead: true,
    });
    return items.map((i) => String(i.term)).sort();
  }

  async addBlockedTerm(term: string): Promise<boolean> {
    try {
      await this.options.client.send(new PutCommand({ TableName: this.table, Item: { ...blockKey(term), term }, ConditionExpression: `attribute_not_exists(${PK})` }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async removeBlockedTerm(term: string): Promise<boolean> {
    const out = await this.options.client.send(new DeleteCommand({ TableName: this.table, Key: blockKey(term), ReturnValues: 'ALL_OLD' }));
    // No item: DynamoDB leaves Attributes out (moto sends an empty map).
    return Object.keys(out.Attributes ?? {}).length > 0;
  }

  async standing(owner: SlotOwner): Promise<UserStanding> {
    const out = await this.options.client.send(new GetCommand({ TableName: this.table, Key: standingKey(owner), ConsistentRead: true }));
    const item = out.Item ?? {};
    return {
      banned: item.banned === true,
      refusals: typeof item.refusals === 'number' ? item.refusals : 0,
      ...(typeof item.quotaResetAt === 'number' ? { quotaResetAt: item.quotaResetAt } : {}),
    };
  }

  async setBanned(owner: SlotOwner, banned: boolean): Promise<void> {
    await this.options.client.send(
      new UpdateCommand({ TableName: this.table, Key: standingKey(owner), UpdateExpression: 'SET banned = :banned', ExpressionAttributeValues: { ':banned': banned } }),
    );
  }

  async resetQuota(owner: SlotOwner, at: number): Promise<void> {
    await this.options.client.send(
      new UpdateCommand({ TableName: this.table, Key: standingKey(owner), UpdateExpression: 'SET quotaResetAt = :at', ExpressionAttributeValues: { ':at': at } }),
    );
  }

  async recordRefusal(owner?: SlotOwner): Promise<void> {
    const add = (Key: Record<string, string>) => ({ Update: { TableName: this.table, Key, UpdateExpression: 'ADD refusals :one', ExpressionAttributeValues: { ':one': 1 } } });
    await this.options.client.send(new TransactWriteCommand({ TransactItems: [add(countersKey), ...(owner ? [add(standingKey(owner))] : [])] }));
  }

  async refusalCount(): Promise<number> {
    const out = await this.options.client.send(new GetCommand({ TableName: this.table, Key: countersKey, ConsistentRead: true }));
    return typeof out.Item?.refusals === 'number' ? out.Item.refusals : 0;
  }

  /** Only for final states (not kept in the LIVE partition): a consistent, filtered scan. */
  private async scanByState(states: readonly JobState[]): Promise<Job[]> {
    const jobs: Job[] = [];
    const names = states.map((_, i) => `:s${i}`);
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(
        new ScanCommand({
          TableName: this.table,
          ConsistentRead: true,
          FilterExpression: `${SK} = :job AND #state IN (${names.join(', ')})`,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':job': 'JOB', ...Object.fromEntries(states.map((s, i) => [names[i]!, s])) },
          ExclusiveStartKey: start,
        }),
      );
      jobs.push(...(page.Items ?? []).map(fromItem));
      start = page.LastEvaluatedKey;
    } while (start);
    return jobs;
  }

  private async batchGetJobs(ids: readonly string[]): Promise<Job[]> {
    const jobs: Job[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = ids.slice(i, i + 100).map(jobKey);
      for (let round = 0; keys && keys.length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** round)));
        const out: BatchGetCommandOutput = await this.options.client.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
        );
        jobs.push(...(out.Responses?.[this.table] ?? []).map(fromItem));
        keys = out.UnprocessedKeys?.[this.table]?.Keys;
      }
    }
    return jobs;
  }

  private toItem(job: Job): Item {
    return {
      ...job,
      ...jobKey(job.id),
      [USER_INDEX.partitionKey]: userPartition(job.requester.platform, job.requester.userId),
      [USER_INDEX.sortKey]: createdSortKey(job),
      ...(job.state === 'delivered'
        ? { [CONVERSATION_INDEX.partitionKey]: conversationPartition(job.conversation), [CONVERSATION_INDEX.sortKey]: createdSortKey(job) }
        : {}),
      [TTL]: this.expiresAt(job.createdAt),
    };
  }

  private expiresAt(createdAtMs: number): number {
    return Math.floor(createdAtMs / 1000) + this.options.ttlDays * 86_400;
  }
}

function fromItem(item: Item): Job {
  const job: Item = { ...item };
  for (const k of TABLE_ATTRIBUTES) delete job[k];
  return job as unknown as Job;
}

function lostRace(err: unknown): boolean {
  if (err instanceof ConditionalCheckFailedException) return true;
  if (err instanceof TransactionCanceledException) {
    return (err.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
  }
  return false;
}
