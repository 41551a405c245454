// EventBridge → SQS → SqsEventConsumer against moto: delivery by the rule, delete-after-handle, loose parsing.
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SqsEventConsumer, parseStateChange, type ProcessingJobStateChange } from '../../bot/aws/events.js';
import { eventually, testLogger } from '../support/harness.js';
import { REGION, awsJson, createResources, queueDepth as depthOf, routeEventsToNewQueue, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';

/** A state change on the file's bus (createResources: the rule infra puts on the default bus, on a bus of its own). */
function putEvent(moto: Moto, bus: string, detail: Record<string, unknown>, source = 'aws.sagemaker') {
  return awsJson(moto.url, 'AWSEvents.PutEvents', {
    Entries: [{ EventBusName: bus, Source: source, DetailType: 'SageMaker Processing Job State Change', Detail: JSON.stringify(detail) }],
  });
}

describe('job events through EventBridge and SQS', () => {
  let moto: Moto;
  let res: AwsResources;
  let sqs: SQSClient;
  let consumer: SqsEventConsumer | undefined;

  beforeAll(async () => {
    useDummyCredentials();
    moto = await useMoto();
    res = await createResources(moto.url, 'ev');
    sqs = new SQSClient({ region: REGION, endpoint: moto.url });
  });
  beforeEach(async () => {
    res = await routeEventsToNewQueue(moto.url, res); // the last test's stopped consumer still polls the old one
  });
  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
  });
  afterAll(async () => {
    sqs?.destroy();
    await moto?.stop();
  });

  const queueDepth = () => depthOf(sqs, res.queueUrl);

  function consume(handler: (c: ProcessingJobStateChange) => Promise<void>): void {
    consumer = new SqsEventConsumer({ sqs, queueUrl: res.queueUrl, logger: testLogger(), waitSeconds: 1, errorBackoffMs: 50 });
    consumer.start(handler);
  }

  it('receives the state change that the rule routes to the queue, and deletes it after handling', async () => {
    const seen: ProcessingJobStateChange[] = [];
    consume(async (c) => void seen.push(c));
    // Not ours: another prefix and another source never reach the queue.
    await putEvent(moto, res.eventBus, { ProcessingJobName: 'other-app-1', ProcessingJobStatus: 'Completed' });
    await putEvent(moto, res.eventBus, { ProcessingJobName: 'videobot-x', ProcessingJobStatus: 'Completed' }, 'my.app');
    await putEvent(moto, res.eventBus, {
      ProcessingJobName: 'videobot-j1',
      ProcessingJobStatus: 'Failed',
      FailureReason: 'AlgorithmError: see logs',
      ExitMessage: 'The GPU ran out of memory.',
      ProcessingOutputConfig: { Outputs: [{ OutputName: 'result', S3Output: { S3Uri: 's3://b/jobs/j1/output/' } }] },
    });
    await eventually(() => seen.length === 1, 10_000, 'event');
    expect(seen[0]).toEqual({
      jobName: 'videobot-j1',
      status: 'Failed',
      failureReason: 'AlgorithmError: see logs',
      exitMessage: 'The GPU ran out of memory.',
      outputUri: 's3://b/jobs/j1/output/',
    });
    await eventually(async () => (await queueDepth()) === 0, 5000, 'delete');
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toHaveLength(1);
  });

  it('keeps a message whose handler failed, and handles it again on redelivery', async () => {
    let calls = 0;
    consume(async () => {
      calls++;
      if (calls === 1) throw new Error('store unavailable');
    });
    await putEvent(moto, res.eventBus, { ProcessingJobName: 'videobot-j2', ProcessingJobStatus: 'Completed' });
    // The queue's visibility timeout is 1 s: the failed message comes back and the second try succeeds.
    await eventually(() => calls >= 2, 10_000, 'redelivery');
    await eventually(async () => (await queueDepth()) === 0, 5000, 'delete');
    expect(calls).toBe(2);
  });

  it('drops messages that are not processing-job events', async () => {
    const seen: ProcessingJobStateChange[] = [];
    consume(async (c) => void seen.push(c));
    await sqs.send(new SendMessageCommand({ QueueUrl: res.queueUrl, MessageBody: 'not json' }));
    await sqs.send(new SendMessageCommand({ QueueUrl: res.queueUrl, MessageBody: '{"detail":{"TrainingJobName":"t"}}' }));
    await eventually(async () => (await queueDepth()) === 0, 5000, 'drop');
    expect(seen).toEqual([]);
  });

  it('parses events loosely', () => {
    expect(parseStateChange('{"ProcessingJobName":"videobot-a","ProcessingJobStatus":"InProgress","Extra":1}')).toEqual({
      jobName: 'videobot-a',
      status: 'InProgress',
    });
    expect(parseStateChange('{"detail":{"ProcessingJobName":"videobot-a"}}')).toBeUndefined();
    expect(parseStateChange('[1,2]')).toBeUndefined();
    expect(parseStateChange('{"detail":{"ProcessingJobName":"n","ProcessingJobStatus":"Stopped","ProcessingOutputConfig":{"Outputs":"x"}}}')).toEqual({
      jobName: 'n',
      status: 'Stopped',
    });
  });
});
