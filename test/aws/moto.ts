// Starts moto in server mode (from the project's .venv) on a free loopback port, and creates the AWS resources.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { JOB_TABLE } from '../../bot/aws/table-layout.js';

export const REGION = 'us-east-1';

/** Dummy credentials for the SDK's default chain, in the test process only. */
export function useDummyCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

export interface Moto {
  readonly url: string;
  stop(): Promise<void>;
}

/** `.venv/bin/python -m moto.server`; `bash scripts/setup-python.sh` creates the venv with moto[server]. */
export async function startMoto(): Promise<Moto> {
  const python = resolve('.venv/bin/python');
  if (!existsSync(python)) throw new Error('moto needs the project venv: run `bash scripts/setup-python.sh` first');
  const port = await freePort();
  const child: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited (${child.exitCode}): ${stderr}`);
    try {
      const r = await fetch(`${url}/moto-api/`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`moto did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
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
}

/** Buckets, the job table (infra's key schema), and a queue fed by the state-change rule; names unique per call. */
export async function createResources(motoUrl: string, tag: string): Promise<AwsResources> {
  const suffix = `${tag}-${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  const s3 = new S3Client({ region: REGION, endpoint: motoUrl, forcePathStyle: true });
  const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl });
  const sqs = new SQSClient({ region: REGION, endpoint: motoUrl });
  const inputBucket = `videobot-input-${suffix}`;
  const outputBucket = `videobot-output-${suffix}`;
  const table = `videobot-jobs-${suffix}`;
  await s3.send(new CreateBucketCommand({ Bucket: inputBucket }));
  await s3.send(new CreateBucketCommand({ Bucket: outputBucket }));
  await ddb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        JOB_TABLE.partitionKey,
        JOB_TABLE.sortKey,
        JOB_TABLE.userIndex.partitionKey,
        JOB_TABLE.userIndex.sortKey,
        JOB_TABLE.conversationIndex.partitionKey,
        JOB_TABLE.conversationIndex.sortKey,
      ].map((name) => ({
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
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: `videobot-events-${suffix}`, Attributes: { VisibilityTimeout: '1' } }));
  const queueUrl = queue.QueueUrl!;
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const queueArn = attrs.Attributes!.QueueArn!;
  const rule = `videobot-jobs-${suffix}`;
  await awsJson(motoUrl, 'AWSEvents.PutRule', { Name: rule, EventPattern: JSON.stringify(PROCESSING_EVENT_PATTERN), State: 'ENABLED' });
  await awsJson(motoUrl, 'AWSEvents.PutTargets', { Rule: rule, Targets: [{ Id: 'bot-queue', Arn: queueArn }] });
  for (const c of [s3, ddb, sqs]) c.destroy();
  return { inputBucket, outputBucket, table, queueUrl, queueArn };
}
