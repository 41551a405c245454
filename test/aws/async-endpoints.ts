// The asynchronous-endpoint runner's test bed, for the two files that run the runner end to end: a real JobService on
// DynamoDB, S3 and SQS (moto), SNS topics in moto subscribed to the bot's queue, and the SageMaker runtime fake with two
// endpoints: one whose instances run the real `python -m processing serve` worker (VIDEOBOT_SERVE_TRANSPORT=http) on
// the tiny-random preset (test/aws/async-runner.test.ts: the cold start and the warm second video); one whose
// instances run the stub worker (test/support/stub-serve-http.mjs: the same HTTP and S3 contract without torch,
// steered by cues in the prompt such as stub:hold; test/aws/async-lifecycle.test.ts). Two files, so that a run's two
// workers take the real worker's torch start and the lifecycle cases side by side.
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import { parseAsyncNotification, type AsyncNotification } from '../../bot/aws/async-events.js';
import { AsyncEndpointRunner } from '../../bot/aws/async-runner.js';
import { DynamoJobStore } from '../../bot/aws/dynamodb.js';
import { SqsEventConsumer } from '../../bot/aws/events.js';
import { S3ObjectStore } from '../../bot/aws/s3.js';
import { createJobService } from '../../bot/core/service.js';
import { systemClock } from '../../bot/local/system.js';
import { eventually, sequentialIds, testLogger } from '../support/harness.js';
import { createTopic, FakeSageMakerRuntime, STUB_WORKER_COMMAND, subscribeQueue, unsubscribe, type FakeAsyncEndpoint } from './fake-sagemaker-runtime.js';
import { eventuallyOnMoto, REGION, createQueue, createResources, queueDepth, uniqueSuffix, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';
import { RecordingChat, conversation } from '../support/recording-chat.js';
export { RecordingChat, conversation };

export const ENDPOINT = 'videobot-async-tiny-random';
export const STUB_ENDPOINT = 'videobot-async-stub';
/** Cue for the stub worker: the job stops after its first denoising step until `<output>release` exists in S3. */
export const HOLD = 'stub:hold';

/** What a test of describeOnAsyncEndpoints reads; the resources are there once beforeAll has made them. */
export interface AsyncEndpointsFixture {
  readonly moto: Moto;
  readonly res: AwsResources;
  readonly runtime: FakeSageMakerRuntime;
  /** Instances run the real worker. */
  readonly real: FakeAsyncEndpoint;
  /** Instances run the stub worker. */
  readonly endpoint: FakeAsyncEndpoint;
  readonly s3: S3Client;
  readonly testNo: number;
  nextTestNo(): number;
  startBot(chat: RecordingChat, idPrefix: string, endpointName?: string): Promise<AsyncBot>;
  setup(endpointName?: string): Promise<{ chat: RecordingChat; bot: AsyncBot; prefix: string; alice: { platform: 'slack'; userId: string } }>;
  stateOf(bot: AsyncBot, id: string): Promise<string | undefined>;
  waitState(bot: AsyncBot, id: string, state: string, ms?: number): Promise<unknown>;
  outputNames(jobId: string): Promise<(string | undefined)[]>;
  doneOf(inferenceId: string): FakeAsyncEndpoint['done'];
  release(jobId: string): Promise<unknown>;
  holding(jobId: string): Promise<boolean>;
  settle(): Promise<void>;
  notificationsToNewQueue(): Promise<void>;
}

export interface AsyncBot {
  service: ReturnType<typeof createJobService>;
  runner: AsyncEndpointRunner;
  store: DynamoJobStore;
  objects: S3ObjectStore;
  close(): Promise<void>;
}

/** A describe block with the test bed's hooks around the tests `tests` defines. */
export function describeOnAsyncEndpoints(title: string, tests: (fx: AsyncEndpointsFixture) => void): void {
  describe(title, () => {
    let moto: Moto;
    let res: AwsResources;
    let runtime: FakeSageMakerRuntime;
    /** Instances run the real worker. */
    let real: FakeAsyncEndpoint;
    /** Instances run the stub worker. */
    let endpoint: FakeAsyncEndpoint;
    let s3: S3Client;
    let sqs: SQSClient;
    const running: AsyncBot[] = [];
    let testNo = 0;
    let topics: { successTopicArn: string; errorTopicArn: string };
    /** The subscriptions of the queue the notifications go to now. */
    const subscriptions: string[] = [];

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
      // The stub's jobs are held by the test or take milliseconds: its progress and its look for the cancel and
      // release markers every 200 ms are requests to moto (~5 ms of a core each) that 50 ms would quadruple.
      endpoint = runtime.addEndpoint({
        ...real.options,
        name: STUB_ENDPOINT,
        workerCommand: STUB_WORKER_COMMAND,
        workerArgs: ['--progress-interval', '0.2', '--cancel-poll', '0.2'],
      });
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

    async function startBot(chat: RecordingChat, idPrefix: string, endpointName = STUB_ENDPOINT): Promise<AsyncBot> {
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
        // The real worker's job is over in a second or two: the bot must see it running (its progress in S3).
        progressPollMs: endpointName === ENDPOINT ? 50 : 200,
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
      const bot: AsyncBot = {
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

    const stateOf = async (bot: AsyncBot, id: string) => (await bot.store.get(id))?.state;
    const waitState = (bot: AsyncBot, id: string, state: string, ms = 150_000) =>
      eventuallyOnMoto(async () => (await stateOf(bot, id)) === state, ms, `${id} ${state}`);
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
      await eventuallyOnMoto(async () => (await queueDepth(sqs, res.queueUrl)) === 0, 30_000, 'every notification handled');
    };

    // One object for the tests: the functions now, the resources when beforeAll has made them (below).
    const fixture = {
      get testNo() {
        return testNo;
      },
      nextTestNo: () => ++testNo,
      startBot,
      setup,
      stateOf,
      waitState,
      outputNames,
      doneOf,
      release,
      holding,
      settle,
      notificationsToNewQueue,
    } as AsyncEndpointsFixture;
    beforeAll(() => {
      Object.assign(fixture, { moto, res, runtime, real, endpoint, s3 });
    });
    tests(fixture);
  });
}
