// The asynchronous-endpoint runner end to end: a real JobService on DynamoDB, S3 and SQS (moto), SNS topics in moto
// subscribed to the bot's queue, and the SageMaker runtime fake with two endpoints: one whose instances run the real
// `python -m processing serve` worker (VIDEOBOT_SERVE_TRANSPORT=http) on the tiny-random preset, for the cold start
// and the warm second video; one whose instances run the stub worker (test/support/stub-serve-http.mjs: the same HTTP
// and S3 contract without torch, steered by cues in the prompt such as stub:hold) for the lifecycle cases.
// processing/tests/test_serve_http.py covers the real worker's side of the contract.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseAsyncNotification, type AsyncNotification } from '../../bot/aws/async-events.js';
import { AsyncEndpointRunner, invocationOf, mapAsyncFailure, type AsyncEndpointSettings } from '../../bot/aws/async-runner.js';
import { DynamoJobStore } from '../../bot/aws/dynamodb.js';
import { SqsEventConsumer } from '../../bot/aws/events.js';
import { S3ObjectStore } from '../../bot/aws/s3.js';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';
import { createJobService } from '../../bot/core/service.js';
import { systemClock } from '../../bot/local/system.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually, sequentialIds, testLogger } from '../support/harness.js';
import { createTopic, FakeSageMakerRuntime, STUB_WORKER_COMMAND, subscribeQueue, unsubscribe, type FakeAsyncEndpoint } from './fake-sagemaker-runtime.js';
import { REGION, createQueue, createResources, queueDepth, uniqueSuffix, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';

class RecordingChat implements ChatSurface {
  readonly platform = 'slack' as const;
  readonly views: { job: Job; view: StatusView }[] = [];
  readonly videos: { job: Job; bytes: Uint8Array }[] = [];
  async announce(job: Job) {
    return job.conversation;
  }
  async retract(): Promise<void> {}
  async showStatus(job: Job, view: StatusView): Promise<void> {
    this.views.push({ job, view });
  }
  async postVideo(job: Job, video: VideoFile): Promise<void> {
    this.videos.push({ job, bytes: await video.read() });
  }
  videosOf(jobId: string) {
    return this.videos.filter((v) => v.job.id === jobId);
  }
}

const conversation = { platform: 'slack' as const, channelId: 'C1', threadId: '1700000000.0001' };
const ENDPOINT = 'videobot-async-tiny-random';
const STUB_ENDPOINT = 'videobot-async-stub';
/** Cue for the stub worker: the job stops after its first denoising step until `<output>release` exists in S3. */
const HOLD = 'stub:hold';

describe('parseAsyncNotification', () => {
  const success = {
    awsRegion: 'us-east-1',
    eventTime: '2022-01-25T22:46:00.608Z',
    receivedTime: '2022-01-25T22:46:00.455Z',
    invocationStatus: 'Completed',
    requestParameters: { contentType: 'application/json', endpointName: ENDPOINT, inputLocation: 's3://in/jobs/j1/input/invocation-1.json' },
    responseParameters: { contentType: 'application/json', outputLocation: 's3://out/async-results/j1.out' },
    inferenceId: 'j1',
    eventVersion: '1.0',
    eventSource: 'aws:sagemaker',
    eventName: 'InferenceResult',
  };
  const expected: AsyncNotification = {
    inferenceId: 'j1',
    status: 'Completed',
    endpointName: ENDPOINT,
    inputLocation: 's3://in/jobs/j1/input/invocation-1.json',
    outputLocation: 's3://out/async-results/j1.out',
  };

  it('reads a notification delivered raw and inside an SNS envelope', () => {
    expect(parseAsyncNotification(JSON.stringify(success))).toEqual(expected);
    const envelope = { Type: 'Notification', MessageId: 'm1', TopicArn: 'arn:aws:sns:us-east-1:123456789012:t', Message: JSON.stringify(success) };
    expect(parseAsyncNotification(JSON.stringify(envelope))).toEqual(expected);
  });

  it('reads the error notification\'s reason and failure location, and refuses what is not a notification', () => {
    const failed = { ...success, invocationStatus: 'Failed', failureReason: 'ClientError: Received server error (500) from model.', responseParameters: { failureLocation: 's3://out/async-failures/j1-error.out' } };
    expect(parseAsyncNotification(JSON.stringify(failed))).toMatchObject({
      status: 'Failed',
      failureReason: 'ClientError: Received server error (500) from model.',
      failureLocation: 's3://out/async-failures/j1-error.out',
    });
    expect(parseAsyncNotification('{"detail":{"ProcessingJobName":"videobot-j1","ProcessingJobStatus":"Completed"}}')).toBeUndefined();
    expect(parseAsyncNotification('not json')).toBeUndefined();
  });

  it('finds the job and attempt from the request object, and words SageMaker\'s failures for the user', () => {
    expect(invocationOf('s3://in/jobs/j1/input/invocation-2.json')).toEqual({ bucket: 'in', jobId: 'j1', attempt: 2 });
    expect(invocationOf('s3://in/elsewhere/request.json')).toBeUndefined();
    const settings: AsyncEndpointSettings = { endpoints: {}, requestTtlSeconds: 3600, invocationTimeoutSeconds: 1800 };
    expect(mapAsyncFailure('Request expired: not processed within RequestTTLSeconds.', settings)).toEqual({
      code: 'CAPACITY', message: 'No GPU took this video within 60 minutes; try again in a few minutes.', retryable: true,
    });
    expect(mapAsyncFailure('ClientError: Model invocation timed out.', settings).code).toBe('TIMEOUT');
    expect(mapAsyncFailure('ClientError: Received server error (0) from model', settings)).toMatchObject({ code: 'INTERRUPTED', retryable: true });
  });
});

describe('AsyncEndpointRunner with JobService, moto and the serve-http worker (real, and the stub)', () => {
  let moto: Moto;
  let res: AwsResources;
  let runtime: FakeSageMakerRuntime;
  /** Instances run the real worker. */
  let real: FakeAsyncEndpoint;
  /** Instances run the stub worker. */
  let endpoint: FakeAsyncEndpoint;
  let s3: S3Client;
  let sqs: SQSClient;
  const running: Bot[] = [];
  let testNo = 0;
  let topics: { successTopicArn: string; errorTopicArn: string };
  /** The subscriptions of the queue the notifications go to now. */
  const subscriptions: string[] = [];

  interface Bot {
    service: ReturnType<typeof createJobService>;
    runner: AsyncEndpointRunner;
    store: DynamoJobStore;
    objects: S3ObjectStore;
    close(): Promise<void>;
  }

  beforeAll(async () => {
    useDummyCredentials();
    moto = await useMoto();
    res = await createResources(moto.url, 'async');
    s3 = new S3Client({ region: REGION, endpoint: moto.url, forcePathStyle: true });
    sqs = new SQSClient({ region: REGION, endpoint: moto.url });
    // Named after the file's resources: another file on the run's moto server has topics of its own.
    const successTopicArn = await createTopic(moto.url, `${res.table}-success`);
    const errorTopicArn = await createTopic(moto.url, `${res.table}-error`);
    topics = { successTopicArn, errorTopicArn };
    runtime = new FakeSageMakerRuntime();
    await runtime.start();
    real = runtime.addEndpoint({
      name: ENDPOINT,
      motoUrl: moto.url,
      s3OutputPath: `s3://${res.outputBucket}/async-results/`,
      s3FailurePath: `s3://${res.outputBucket}/async-failures/`,
      successTopicArn,
      errorTopicArn,
      workerArgs: ['--progress-interval', '0.05', '--cancel-poll', '0.05'],
    });
    endpoint = runtime.addEndpoint({ ...real.options, name: STUB_ENDPOINT, workerCommand: STUB_WORKER_COMMAND });
  }, 60_000);
  beforeEach(() => notificationsToNewQueue());
  afterEach(async () => {
    while (running.length) await running.pop()!.close();
    // A test that failed while a stub:hold job held leaves it running: release whatever the stub endpoint still has.
    const drained = async (e: FakeAsyncEndpoint) => {
      if (e === endpoint) for (const ref of [...e.inFlight.keys(), ...e.queue.map((q) => q.inferenceId)]) await release(ref.replace(/-r\d+$/, ''));
      return e.backlogSize() === 0 || e.instances.length === 0;
    };
    for (const e of [real, endpoint]) await eventually(() => drained(e), 150_000, 'the endpoint drained');
    endpoint.dropNotifications = 0;
    endpoint.duplicateNotifications = false;
    endpoint.autoScaleOut = false;
  });
  afterAll(async () => {
    await runtime?.stop();
    s3?.destroy();
    sqs?.destroy();
    await moto?.stop();
  }, 60_000);

  /**
   * The endpoint's notifications go to a fresh queue from now on, for a bot started after another one stopped: a
   * stopped consumer's long poll goes on waiting in moto for up to its wait time, takes the first message that
   * arrives and hides it for the visibility timeout, a second's delay for the next bot on the same queue.
   */
  async function notificationsToNewQueue(): Promise<void> {
    const { queueUrl, queueArn } = await createQueue(moto.url, `videobot-events-${uniqueSuffix(res.suffix)}`);
    for (const subscription of subscriptions.splice(0)) await unsubscribe(moto.url, subscription);
    subscriptions.push(
      await subscribeQueue(moto.url, topics.successTopicArn, queueArn),
      await subscribeQueue(moto.url, topics.errorTopicArn, queueArn, true),
    );
    res = { ...res, queueUrl, queueArn };
  }

  async function startBot(chat: RecordingChat, idPrefix: string, endpointName = STUB_ENDPOINT): Promise<Bot> {
    const logger = testLogger();
    const dynamoBase = new DynamoDBClient({ region: REGION, endpoint: moto.url });
    const dynamo = DynamoDBDocumentClient.from(dynamoBase, { marshallOptions: { removeUndefinedValues: true } });
    const sqs = new SQSClient({ region: REGION, endpoint: moto.url });
    const botS3 = new S3Client({ region: REGION, endpoint: moto.url, forcePathStyle: true });
    const sagemakerRuntime = new SageMakerRuntimeClient({ region: REGION, endpoint: runtime.url, maxAttempts: 1 });
    const store = new DynamoJobStore({ client: dynamo, tableName: res.table, clock: { now: () => Date.now() }, ttlDays: 30 });
    const objects = new S3ObjectStore({ s3: botS3, inputBucket: res.inputBucket, outputBucket: res.outputBucket });
    const events = new SqsEventConsumer<AsyncNotification>({ sqs, queueUrl: res.queueUrl, logger, waitSeconds: 1, parse: parseAsyncNotification });
    const runner = new AsyncEndpointRunner({
      runtime: sagemakerRuntime,
      s3: botS3,
      objects,
      events,
      settings: { endpoints: { 'tiny-random': endpointName }, requestTtlSeconds: 600, invocationTimeoutSeconds: 300 },
      logger,
      progressPollMs: 50,
    });
    const service = createJobService({
      store,
      objects,
      runner,
      chats: [chat],
      clock: systemClock,
      ids: sequentialIds(idPrefix),
      logger,
      defaultModel: 'tiny-random',
      limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxAttempts: 3, maxConcurrentJobs: 5, reconcileIntervalMs: 0, quietAfterMs: 0 },
    });
    await service.start();
    const bot: Bot = {
      service,
      runner,
      store,
      objects,
      async close() {
        const at = running.indexOf(bot);
        if (at >= 0) running.splice(at, 1);
        await service.stop();
        await runner.stop();
        for (const c of [dynamoBase, sqs, botS3, sagemakerRuntime]) c.destroy();
      },
    };
    running.push(bot);
    return bot;
  }

  async function setup(endpointName = STUB_ENDPOINT) {
    const chat = new RecordingChat();
    const prefix = `a${++testNo}x`;
    return { chat, bot: await startBot(chat, prefix, endpointName), prefix, alice: { platform: 'slack' as const, userId: `U-${prefix}` } };
  }

  const stateOf = async (bot: Bot, id: string) => (await bot.store.get(id))?.state;
  const waitState = (bot: Bot, id: string, state: string, ms = 150_000) =>
    eventually(async () => (await stateOf(bot, id)) === state, ms, `${id} ${state}`);
  const outputNames = async (jobId: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: res.outputBucket, Prefix: `jobs/${jobId}/output/` }))).Contents ?? []).map((o) => o.Key!.split('/').pop());
  const doneOf = (inferenceId: string) => endpoint.done.filter((d) => d.request.inferenceId === inferenceId);
  /** Lets a stub:hold job go on (the stub worker looks for the marker with the cancel marker). */
  const release = (jobId: string) =>
    s3.send(new PutObjectCommand({ Bucket: res.outputBucket, Key: `jobs/${jobId}/output/release`, Body: '' }));
  /** True once the stub worker holds the job: its progress.json in S3 is at the first denoising step. */
  const holding = async (jobId: string) => {
    try {
      const o = await s3.send(new GetObjectCommand({ Bucket: res.outputBucket, Key: `jobs/${jobId}/output/progress.json` }));
      const p = JSON.parse(await o.Body!.transformToString()) as { phase?: string; step?: number };
      return p.phase === 'denoising' && (p.step ?? 0) >= 1;
    } catch {
      return false;
    }
  };
  /**
   * Whatever the endpoint still had to say has been said and handled, so a late or repeated notification would have
   * done its harm: every request finished (the fake publishes its notifications before it lets go of one) and the
   * bot's queue is empty (the consumer deletes a message only once handled).
   */
  const settle = async () => {
    await eventually(() => endpoint.backlogSize() === 0, 30_000, 'the endpoint finished its requests');
    await eventually(async () => (await queueDepth(sqs, res.queueUrl)) === 0, 30_000, 'every notification handled');
  };

  it('queues with no instance, scales out from zero, delivers once; the next video finds the pipeline loaded (real worker)', async () => {
    await real.scaleTo(0);
    const { chat, bot, alice } = await setup(ENDPOINT);
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', seed: 42 } });
    await waitState(bot, job.id, 'starting');
    const call = runtime.calls.find((c) => c.headers['x-amzn-sagemaker-inference-id'] === job.id)!;
    expect(call.endpoint).toBe(ENDPOINT);
    expect(call.headers).toMatchObject({
      'x-amzn-sagemaker-inputlocation': `s3://${res.inputBucket}/jobs/${job.id}/input/invocation-1.json`,
      'x-amzn-sagemaker-content-type': 'application/json',
      'x-amzn-sagemaker-requestttlseconds': '600',
      'x-amzn-sagemaker-invocationtimeoutseconds': '300',
    });
    expect(real.hasBacklogWithoutCapacity()).toBe(true); // what the scale-out-from-zero alarm watches
    expect(real.backlogSize()).toBe(1);

    await real.scaleTo(1);
    await waitState(bot, job.id, 'delivered');
    expect(chat.videosOf(job.id)).toHaveLength(1);
    expect(new TextDecoder().decode(chat.videosOf(job.id)[0]!.bytes.slice(4, 8))).toBe('ftyp');
    const stored = await bot.store.get(job.id);
    expect(stored?.result?.metadata).toMatchObject({ job: { id: job.id, seed: 42 }, runtime: { resident: false } });
    expect(chat.views.some((v) => v.job.id === job.id && v.view.state === 'running')).toBe(true); // progress from S3

    const { job: second } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a wasp', seed: 43 } });
    await waitState(bot, second.id, 'delivered');
    expect((await bot.store.get(second.id))?.result?.metadata).toMatchObject({ runtime: { resident: true } });
    expect(real.backlogSize()).toBe(0);
    await real.scaleTo(0); // its torch process leaves room for the rest
  }, 300_000);

  it('posts once when the notification arrives twice', async () => {
    await endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    endpoint.duplicateNotifications = true;
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a cat' } });
    await waitState(bot, job.id, 'delivered');
    await settle();
    expect(chat.videosOf(job.id)).toHaveLength(1);
  }, 120_000);

  it('delivers once from the S3 outputs when the notification is lost', async () => {
    await endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    endpoint.dropNotifications = 1;
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a lost owl' } });
    await eventually(() => doneOf(job.id).length === 1, 150_000, 'the worker answered');
    expect(endpoint.dropNotifications).toBe(0);
    await bot.service.reconcile(); // what the bot does for a job that went quiet
    await waitState(bot, job.id, 'delivered', 10_000);
    await settle();
    expect(chat.videosOf(job.id)).toHaveLength(1);
  }, 120_000);

  it('delivers once when the bot restarts while the worker makes the video', async () => {
    await endpoint.scaleTo(1);
    const chat = new RecordingChat();
    const prefix = `a${++testNo}x`;
    const alice = { platform: 'slack' as const, userId: `U-${prefix}` };
    const first = await startBot(chat, prefix);
    const { job } = await first.service.submit({ requester: alice, conversation, request: { prompt: `a fox ${HOLD}` } });
    await waitState(first, job.id, 'running');
    await first.close();
    await notificationsToNewQueue(); // the queue the next bot reads from
    await release(job.id);
    await eventually(() => doneOf(job.id).length === 1, 30_000, 'the worker answered'); // its notification waits in the queue
    const second = await startBot(chat, `${prefix}b`);
    await waitState(second, job.id, 'delivered');
    await settle();
    expect(chat.videosOf(job.id)).toHaveLength(1);
    expect(runtime.calls.filter((c) => c.headers['x-amzn-sagemaker-inference-id'] === job.id)).toHaveLength(1); // not queued again
  }, 180_000);

  it('cancels a running video between steps', async () => {
    await endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: `stop me ${HOLD}` } });
    await waitState(bot, job.id, 'running');
    await eventually(() => holding(job.id), 30_000, 'the job holds mid-denoising');
    await bot.service.cancel(job.id, alice);
    await eventually(() => doneOf(job.id).length === 1, 30_000, 'the worker answered');
    expect(JSON.parse(doneOf(job.id)[0]!.answer)).toMatchObject({ status: 'cancelled' });
    const names = await outputNames(job.id);
    expect(names).not.toContain('video.mp4');
    expect(names).not.toContain('metadata.json');
    await settle();
    expect(await stateOf(bot, job.id)).toBe('cancelled');
    expect(chat.videosOf(job.id)).toHaveLength(0);
  }, 120_000);

  it('cancels a request still in the queue: the worker answers cancelled without making anything', async () => {
    await endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    const { job: first } = await bot.service.submit({ requester: alice, conversation, request: { prompt: `in front ${HOLD}` } });
    await waitState(bot, first.id, 'running'); // the one instance is busy (one invocation at a time)
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'never mind' } });
    await waitState(bot, job.id, 'starting');
    expect(endpoint.queue.map((q) => q.inferenceId)).toEqual([job.id]);
    const cancelled = await bot.service.cancel(job.id, alice);
    expect(cancelled.state).toBe('cancelled');
    expect(await outputNames(job.id)).toEqual(['cancel']);

    await release(first.id);
    await eventually(() => doneOf(job.id).length === 1, 30_000, 'the worker took the request');
    expect(JSON.parse(doneOf(job.id)[0]!.answer)).toMatchObject({ job_id: job.id, status: 'cancelled' });
    await waitState(bot, first.id, 'delivered');
    await settle();
    expect(await outputNames(job.id)).toEqual(['cancel']);
    expect(await stateOf(bot, job.id)).toBe('cancelled');
    expect(chat.videosOf(job.id)).toHaveLength(0);
    expect(chat.videosOf(first.id)).toHaveLength(1);
  }, 60_000);

  it('makes the video again on a fresh instance when the worker dies mid-job, and posts it once', async () => {
    await endpoint.scaleTo(1);
    const { chat, bot, alice } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: `a crash ${HOLD}` } });
    await waitState(bot, job.id, 'running');
    await endpoint.crashWorkerOf(job.id);
    await eventually(() => doneOf(job.id)[0]?.status === 'Failed', 30_000, 'the error notification');
    // The retry (submitted with its outputs cleared) holds on the replaced instance like the first attempt.
    await eventually(() => endpoint.inFlight.has(`${job.id}-r2`), 30_000, 'the retry on the replaced instance');
    await release(job.id);
    await waitState(bot, job.id, 'delivered', 30_000);
    const stored = await bot.store.get(job.id);
    expect(stored?.attempts).toBe(2);
    expect(stored?.runnerRef).toBe(`${job.id}-r2`);
    expect(chat.videosOf(job.id)).toHaveLength(1);
  }, 60_000);

  it('the stub worker answers as the real one: ping, the 400 reasons, done-before and cancelled-while-queued', async () => {
    await endpoint.scaleTo(1);
    const url = endpoint.instances[0]!.url;
    expect((await fetch(`${url}/ping`)).status).toBe(200);
    const bodies = [
      'not json',
      '[1]',
      JSON.stringify({ job_id: 'j', input: '/local/dir', output: 's3://b/jobs/j/output/' }),
      JSON.stringify({ input: 's3://b/jobs/j/input/', output: 's3://b/jobs/j/output/' }),
      JSON.stringify({ job_id: 'a/b', input: 's3://b/i/', output: 's3://b/o/' }),
      JSON.stringify({ job_id: 'j', attempt: 0, input: 's3://b/i/', output: 's3://b/o/' }),
      JSON.stringify({ job_id: 'j', attempt: true, input: 's3://b/i/', output: 's3://b/o/' }),
      JSON.stringify({ job_id: 'j', input: 's3://b/i/', output: 's3://b' }),
    ];
    // processing/serve_http.py's Invocation.parse on the same bodies (it imports no torch).
    const script = [
      'import json, sys',
      'from processing.serve_http import BadRequest, Invocation',
      'def reason(body):',
      '    try: Invocation.parse(body.encode()); return None',
      '    except BadRequest as e: return str(e)',
      'print(json.dumps([reason(b) for b in json.loads(sys.stdin.read())]))',
    ].join('\n');
    const reasons = JSON.parse(execFileSync(resolve('.venv/bin/python'), ['-c', script], { input: JSON.stringify(bodies), encoding: 'utf8' })) as string[];
    for (const [i, body] of bodies.entries()) {
      const r = await fetch(`${url}/invocations`, { method: 'POST', body });
      expect({ status: r.status, answer: await r.json() }).toEqual({ status: 400, answer: { error: reasons[i] } });
    }

    const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: res.outputBucket, Key: key, Body: body }));
    const invoke = async (jobId: string) => {
      const r = await fetch(`${url}/invocations`, {
        method: 'POST',
        body: JSON.stringify({ job_id: jobId, attempt: 1, input: `s3://${res.inputBucket}/jobs/${jobId}/input/`, output: `s3://${res.outputBucket}/jobs/${jobId}/output/` }),
      });
      return { status: r.status, answer: (await r.json()) as Record<string, unknown> };
    };
    const done = `done${++testNo}`;
    await put(`jobs/${done}/output/metadata.json`, '{}');
    expect(await invoke(done)).toEqual({ status: 200, answer: { job_id: done, attempt: 1, output: `s3://${res.outputBucket}/jobs/${done}/output/`, status: 'done-before' } });
    const queued = `queued${testNo}`;
    await put(`jobs/${queued}/output/cancel`, '');
    expect((await invoke(queued)).answer).toMatchObject({ job_id: queued, status: 'cancelled' });
    expect(await outputNames(queued)).toEqual(['cancel']);
  });

  it('queues a video once when the same attempt is submitted again (a restart while submitting), and again for a retry', async () => {
    const idle = runtime.addEndpoint({ ...endpoint.options, name: 'videobot-async-idle' }); // no instance: requests stay queued
    const botS3 = new S3Client({ region: REGION, endpoint: moto.url, forcePathStyle: true });
    const client = new SageMakerRuntimeClient({ region: REGION, endpoint: runtime.url, maxAttempts: 1 });
    const objects = new S3ObjectStore({ s3: botS3, inputBucket: res.inputBucket, outputBucket: res.outputBucket });
    const runner = new AsyncEndpointRunner({
      runtime: client,
      s3: botS3,
      objects,
      events: { start: () => {}, stop: async () => {} },
      settings: { endpoints: { 'tiny-random': 'videobot-async-idle' }, requestTtlSeconds: 600, invocationTimeoutSeconds: 300 },
      logger: testLogger(),
    });
    const job = sampleJob(`rep${++testNo}`, { state: 'submitting', attempts: 0 });
    expect(await runner.submit(job)).toEqual({ ref: job.id });
    expect(await runner.submit(job)).toEqual({ ref: job.id });
    expect(idle.queue.map((q) => q.inferenceId)).toEqual([job.id]);
    expect(await runner.describe({ ...job, state: 'starting', attempts: 1, runnerRef: job.id })).toEqual({ status: 'running' });
    expect(await runner.submit({ ...job, attempts: 1 })).toEqual({ ref: `${job.id}-r2` });
    expect(idle.queue.map((q) => q.inferenceId)).toEqual([job.id, `${job.id}-r2`]);
    expect(idle.queue[1]!.inputLocation).toBe(`s3://${res.inputBucket}/jobs/${job.id}/input/invocation-2.json`);
    idle.queue.length = 0;
    client.destroy();
    botS3.destroy();
  });

  it('refuses a model no endpoint serves with a sentence naming the ones that are served', async () => {
    const { chat, bot, alice } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a big one', model: 'cogvideox-2b' } });
    await waitState(bot, job.id, 'failed', 10_000);
    expect((await bot.store.get(job.id))?.failure?.message).toBe(
      "The model cogvideox-2b is not deployed on this bot's GPU endpoints; choose one of: tiny-random.",
    );
    expect(chat.videosOf(job.id)).toHaveLength(0);
  }, 30_000);
});
