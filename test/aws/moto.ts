// moto in server mode (from the project's .venv): the run's shared server (test/aws/moto-global.ts) or one of the
// file's own, and the AWS resources a test file works in, under names of its own.
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { JOB_TABLE, TABLE_ATTRIBUTES } from '../../bot/aws/table-layout.js';
import { eventually } from '../support/harness.js';
import { startMoto, type Moto } from './moto-server.js';

export { freePort, startMoto, type Moto } from './moto-server.js';

export const REGION = 'us-east-1';
/**
 * How often a test asks moto whether something happened (a job's state in DynamoDB, a queue's depth, an object in
 * S3): each request costs moto ~5 ms of a core, so eventually()'s 20 ms default kept a quarter of one of the two
 * cores answering polls while the bot under test waited for that core.
 */
export const MOTO_POLL_MS = 100;

/** eventually() for a check that asks moto (a job's state in DynamoDB, a queue's depth): polled every MOTO_POLL_MS. */
export function eventuallyOnMoto<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs?: number, what?: string): Promise<T> {
  return eventually(check, timeoutMs, what, MOTO_POLL_MS);
}

/** Dummy credentials for the SDK's default chain, in the test process only. */
export function useDummyCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
}

/**
 * The run's moto server when vitest.config.ts has test/aws/moto-global.ts as a globalSetup (its stop() leaves it
 * running for the other files), else a server of this file's own. Either way the file works in resources of its own
 * (createResources, createJobTable), so it sees nothing another file does.
 */
export async function useMoto(): Promise<Moto> {
  const broker = inject('motoBroker');
  if (!broker) return startMoto();
  const r = await fetch(broker);
  if (!r.ok) throw new Error(`the run's moto server did not start: ${await r.text()}`);
  const { url } = (await r.json()) as { url: string };
  return { url, stop: async () => {} };
}

/**
 * Messages in the queue, in flight included. A consumer deletes a message only once its handler resolved, so 0 means
 * every message that reached the queue has been handled: what a test waits for before it checks that a duplicate
 * or late event changed nothing (instead of sleeping "long enough" for it to arrive).
 */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** One AWS JSON-protocol call against moto without an SDK client (EventBridge has none in package.json). */
export async function awsJson(url: string, target: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': target,
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${REGION}/events/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${target} failed: ${r.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** The pattern infra's EventBridge rule uses. */
export const PROCESSING_EVENT_PATTERN = {
  source: ['aws.sagemaker'],
  'detail-type': ['SageMaker Processing Job State Change'],
  detail: { ProcessingJobName: [{ prefix: 'videobot-' }] },
};

export interface AwsResources {
  readonly inputBucket: string;
  readonly outputBucket: string;
  readonly table: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  /**
   * The event bus whose state-change rule feeds the queue: the file's own, where SageMaker uses the account's default
   * bus, so that on a moto server shared by the run one file's processing-job events never reach another's queue.
   */
  readonly eventBus: string;
  /** The state-change rule on that bus, and the suffix of every name here. */
  readonly rule: string;
  readonly suffix: string;
}

/**
 * The bot's AWS settings, environment-shaped, for these resources: what every bot under test starts from (a suite adds
 * its own runner, enhancer, instance types...). The role and image are placeholders: only the fakes read them.
 */
export function botEnv(res: AwsResources): Record<string, string> {
  return {
    VIDEOBOT_BACKEND: 'aws',
    AWS_REGION: REGION,
    VIDEOBOT_INPUT_BUCKET: res.inputBucket,
    VIDEOBOT_OUTPUT_BUCKET: res.outputBucket,
    VIDEOBOT_JOB_TABLE: res.table,
    VIDEOBOT_EVENTS_QUEUE_URL: res.queueUrl,
    VIDEOBOT_MODEL_CACHE_URI: `s3://${res.inputBucket}/models`,
    SAGEMAKER_ROLE_ARN: 'arn:aws:iam::123456789012:role/videobot-processing',
    SAGEMAKER_IMAGE_URI: '123456789012.dkr.ecr.us-east-1.amazonaws.com/videobot-processing:abc',
  };
}

/** A unique, lower-case suffix for resource names. */
export function uniqueSuffix(tag: string): string {
  return `${tag}-${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
}

/** The job table with infra's key schema, indexes and TTL (bot/aws/table-layout.ts). */
export async function createJobTable(motoUrl: string, table: string): Promise<void> {
  const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl });
  try {
    await ddb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        // Every key attribute of the table and its indexes (the TTL attribute is no key).
        AttributeDefinitions: TABLE_ATTRIBUTES.filter((name) => name !== JOB_TABLE.ttlAttribute).map((name) => ({
          AttributeName: name,
          AttributeType: 'S',
        })),
        KeySchema: [
          { AttributeName: JOB_TABLE.partitionKey, KeyType: 'HASH' },
          { AttributeName: JOB_TABLE.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [JOB_TABLE.userIndex, JOB_TABLE.conversationIndex].map((index) => ({
          IndexName: index.name,
          KeySchema: [
            { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
            { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
          ],
          Projection: { ProjectionType: 'ALL' as const },
        })),
      }),
    );
    await ddb.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: JOB_TABLE.ttlAttribute, Enabled: true } }));
  } finally {
    ddb.destroy();
  }
}

/** An event queue as infra makes it (a 1 s visibility timeout here, so a failed message comes back soon). */
export async function createQueue(motoUrl: string, name: string): Promise<{ queueUrl: string; queueArn: string }> {
  const sqs = new SQSClient({ region: REGION, endpoint: motoUrl });
  try {
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '1' } }));
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl!, AttributeNames: ['QueueArn'] }));
    return { queueUrl: queue.QueueUrl!, queueArn: attrs.Attributes!.QueueArn! };
  } finally {
    sqs.destroy();
  }
}

/**
 * A fresh queue that the file's state-change rule feeds from now on, instead of the last one. For a test whose bot
 * starts after another test's bot stopped: a stopped consumer's long poll goes on waiting in moto for up to its wait
 * time, takes the first message that arrives and hides it for the visibility timeout, a second's delay for the next
 * bot on the same queue.
 */
export async function routeEventsToNewQueue(motoUrl: string, res: AwsResources): Promise<AwsResources> {
  const { queueUrl, queueArn } = await createQueue(motoUrl, `videobot-events-${uniqueSuffix(res.suffix)}`);
  await awsJson(motoUrl, 'AWSEvents.PutTargets', { Rule: res.rule, EventBusName: res.eventBus, Targets: [{ Id: 'bot-queue', Arn: queueArn }] });
  return { ...res, queueUrl, queueArn };
}

/** Buckets, the job table (infra's key schema), and a queue fed by the state-change rule; names unique per call. */
export async function createResources(motoUrl: string, tag: string): Promise<AwsResources> {
  const suffix = uniqueSuffix(tag);
  const s3 = new S3Client({ region: REGION, endpoint: motoUrl, forcePathStyle: true });
  const inputBucket = `videobot-input-${suffix}`;
  const outputBucket = `videobot-output-${suffix}`;
  const table = `videobot-jobs-${suffix}`;
  const eventBus = `videobot-bus-${suffix}`;
  const rule = `videobot-jobs-${suffix}`;
  await s3.send(new CreateBucketCommand({ Bucket: inputBucket }));
  await s3.send(new CreateBucketCommand({ Bucket: outputBucket }));
  s3.destroy();
  await createJobTable(motoUrl, table);
  const { queueUrl, queueArn } = await createQueue(motoUrl, `videobot-events-${suffix}`);
  await awsJson(motoUrl, 'AWSEvents.CreateEventBus', { Name: eventBus });
  await awsJson(motoUrl, 'AWSEvents.PutRule', { Name: rule, EventBusName: eventBus, EventPattern: JSON.stringify(PROCESSING_EVENT_PATTERN), State: 'ENABLED' });
  await awsJson(motoUrl, 'AWSEvents.PutTargets', { Rule: rule, EventBusName: eventBus, Targets: [{ Id: 'bot-queue', Arn: queueArn }] });
  return { inputBucket, outputBucket, table, queueUrl, queueArn, eventBus, rule, suffix };
}
