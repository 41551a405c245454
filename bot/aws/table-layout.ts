// The job table's layout — its keys, the per-person index and the TTL attribute — read by the store (dynamodb.ts),
// the CDK construct (infra/constructs/job-table.ts) and the moto fixture (test/aws/moto.ts). Plain data, no SDK.

export const JOB_TABLE = {
  /** Generic string keys: every item kind (job, live entry, slot hold, settings) shares them; see dynamodb.ts. */
  partitionKey: 'pk',
  sortKey: 'sk',
  /** A person's jobs, newest last: partition USER#<platform>#<userId>, sort <createdAt, 15 digits>#<id>. Projects every attribute. */
  userIndex: { name: 'byUser', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  /**
   * Delivered videos of one conversation (a Slack thread, a Discord channel or thread, a terminal session), oldest first:
   * partition CONV#<platform>#<channelId>#<threadId or empty>, sort as userIndex. Sparse: only delivered jobs carry it
   * (Combine of a thread's clips). Projects every attribute.
   */
  conversationIndex: { name: 'byConversation', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  /** Epoch seconds; DynamoDB deletes an item some time after it. */
  ttlAttribute: 'expiresAt',
} as const;

/** The attributes that place an item in the table (not part of the job it stores). */
export const TABLE_ATTRIBUTES = [
  JOB_TABLE.partitionKey,
  JOB_TABLE.sortKey,
  JOB_TABLE.userIndex.partitionKey,
  JOB_TABLE.userIndex.sortKey,
  JOB_TABLE.conversationIndex.partitionKey,
  JOB_TABLE.conversationIndex.sortKey,
  JOB_TABLE.ttlAttribute,
] as const;
