// VIDEOBOT_AWS_RUNNER=async and Combine: videos go to the asynchronous endpoints, a Combine runs as a Processing job on
// the CPU instance (bot/aws/combine-router.ts), and both runners read the one job-event queue. Real SDKs against moto
// (DynamoDB, S3, SQS, EventBridge) and the SageMaker fake; no endpoint ever sees the Combine.
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AsyncNotification } from '../../bot/aws/async-events.js';
import { createAwsBackend, type AwsBackend } from '../../bot/aws/backend.js';
import { CombineRoutingRunner, parseQueueEvent, splitQueue, type QueueEvent } from '../../bot/aws/combine-router.js';
import { SqsEventConsumer, type ProcessingJobStateChange } from '../../bot/aws/events.js';
import { loadConfig } from '../../bot/config.js';
import { createJobService, type JobService } from '../../bot/core/service.js';
import { awsSettings } from '../../bot/main.js';
import { systemClock } from '../../bot/local/system.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually, sequentialIds, testLogger } from '../support/harness.js';
import { FakeSageMaker } from './fake-sagemaker.js';
import { eventuallyOnMoto, REGION, botEnv, createResources, queueDepth, routeEventsToNewQueue, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';
import { RecordingChat, alice, conversation } from '../support/recording-chat.js';

describe('Combine on the asynchronous-endpoint runner', () => {
  let moto: Moto;
  let res: AwsResources;
  let sagemaker: FakeSageMaker;
  let s3: S3Client;
  let sqs: SQSClient;
  const running: { service: JobService; backend: AwsBackend }[] = [];
  let testNo = 0;

  beforeAll(async () => {
    useDummyCredentials();
    moto = await useMoto();
    res = await createResources(moto.url, 'route');
    sagemaker = new FakeSageMaker({ motoUrl: moto.url, eventBus: res.eventBus });
    await sagemaker.start();
    s3 = new S3Client({ region: REGION, endpoint: moto.url, forcePathStyle: true });
    sqs = new SQSClient({ region: REGION, endpoint: moto.url });
  }, 60_000);
  beforeEach(async () => {
    res = await routeEventsToNewQueue(moto.url, res); // the last test's stopped consumer still polls the old one
  });
  afterEach(async () => {
    for (const bot of running.splice(0)) {
      await bot.service.stop();
      await bot.backend.close();
    }
  });
  afterAll(async () => {
    await sagemaker?.stop();
    s3?.destroy();
    sqs?.destroy();
    await moto?.stop();
  });

  async function startBot(chat: RecordingChat) {
    const config = loadConfig({
      ...botEnv(res),
      VIDEOBOT_AWS_RUNNER: 'async',
      // No endpoint serves the clips' model: a Combine sent to the endpoints would be refused.
      VIDEOBOT_ASYNC_ENDPOINTS: 'cogvideox-5b=videobot-async-cogvideox-5b',
    });
    const backend = createAwsBackend(awsSettings(config), testLogger(), {
      endpoints: { s3: moto.url, dynamodb: moto.url, sqs: moto.url, sagemaker: sagemaker.url, sagemakerRuntime: 'http://127.0.0.1:9' },
      eventWaitSeconds: 1,
      progressPollMs: 50,
    });
    const service = createJobService({
      store: backend.store,
      objects: backend.objects,
      runner: backend.runner,
      chats: [chat],
      clock: systemClock,
      ids: sequentialIds(`r${++testNo}x`),
      logger: testLogger(),
      defaultModel: 'cogvideox-2b',
      limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxAttempts: 3, maxConcurrentJobs: 5 },
    });
    await service.start();
    const bot = { service, backend };
    running.push(bot);
    return bot;
  }

  /** Two clips alice made in the thread, delivered, with their videos in the output bucket. */
  async function deliveredClips(bot: { backend: AwsBackend }): Promise<string[]> {
    const ids = [`c${testNo}a`, `c${testNo}b`];
    for (const [i, id] of ids.entries()) {
      const clip = sampleJob(id, { state: 'delivered', requester: alice, conversation, createdAt: 1000 + i, updatedAt: 1000 + i });
      await bot.backend.store.create({ ...clip, params: { ...clip.params, model: 'cogvideox-2b' } });
      await s3.send(new PutObjectCommand({ Bucket: res.outputBucket, Key: `jobs/${id}/output/video.mp4`, Body: new Uint8Array([i, i, i]) }));
    }
    return ids;
  }

  const stateOf = async (bot: { backend: AwsBackend }, id: string) => (await bot.backend.store.get(id))?.state;

  it('runs a Combine as a Processing job on the CPU instance and posts it once; a video still goes to the endpoints', async () => {
    const chat = new RecordingChat();
    const bot = await startBot(chat);
    expect(bot.backend.runner).toBeInstanceOf(CombineRoutingRunner);
    const clips = await deliveredClips(bot);
    const { job } = await bot.service.submit({ requester: alice, conversation, combine: { jobIds: clips } });
    const name = `videobot-${job.id}`;
    await eventually(() => sagemaker.jobs.get(name), 10_000, 'the Combine as a Processing job');
    expect(sagemaker.jobs.get(name)!.request.ProcessingResources.ClusterConfig.InstanceType).toBe('ml.m5.xlarge');
    // The clips were copied beside job.json for the container.
    expect(await bot.backend.objects.getInput(job.id, 'clip-0.mp4')).toEqual(new Uint8Array([0, 0, 0]));
    await eventuallyOnMoto(async () => (await stateOf(bot, job.id)) === 'starting', 10_000, 'starting');
    await sagemaker.complete(name, { video: new Uint8Array([7, 7]), metadata: { output: { frames: 18 } } });
    await sagemaker.publish(name); // delivered at least once
    await eventuallyOnMoto(async () => (await stateOf(bot, job.id)) === 'delivered', 10_000, 'delivered');
    // Both events handled (the consumer deletes a message only then): the second has done whatever it would do.
    await eventuallyOnMoto(async () => (await queueDepth(sqs, res.queueUrl)) === 0, 10_000, 'both events handled');
    expect(chat.videos.map((v) => [v.job.id, [...v.bytes]])).toEqual([[job.id, [7, 7]]]);

    // A video of a model no endpoint serves: the endpoint runner's refusal, not a Processing job.
    const { job: video } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
    const failed = await eventuallyOnMoto(async () => {
      const now = await bot.backend.store.get(video.id);
      return now?.state === 'failed' ? now : undefined;
    }, 10_000, 'the video refused');
    expect(failed.failure?.message).toBe("The model cogvideox-2b is not deployed on this bot's GPU endpoints; choose one of: cogvideox-5b.");
    expect(sagemaker.jobs.has(`videobot-${video.id}`)).toBe(false);
  });

  it("ends a Combine the job refuses with the job's own sentence", async () => {
    const chat = new RecordingChat();
    const bot = await startBot(chat);
    const clips = await deliveredClips(bot);
    const { job } = await bot.service.submit({ requester: alice, conversation, combine: { jobIds: clips } });
    const name = `videobot-${job.id}`;
    await eventuallyOnMoto(async () => (await stateOf(bot, job.id)) === 'starting', 10_000, 'starting');
    const message = 'Clip 2 is hevc yuv420p 96x64 at 8 fps but clip 1 is h264 yuv420p 96x64 at 8 fps; only clips of the same codec, size and frame rate can be joined.';
    await sagemaker.fail(name, { failureReason: 'AlgorithmError: CLIPS_DIFFER', errorJson: { code: 'CLIPS_DIFFER', message, retryable: false } });
    const failed = await eventuallyOnMoto(async () => {
      const now = await bot.backend.store.get(job.id);
      return now?.state === 'failed' ? now : undefined;
    }, 10_000, 'failed');
    expect(failed.failure).toMatchObject({ code: 'CLIPS_DIFFER', message });
    expect(chat.videos).toEqual([]);
  });

  it('one queue consumer hands state changes and endpoint notifications each to its runner', async () => {
    // The consumer's own client, counting the receives it sends.
    const consumerSqs = new SQSClient({ region: REGION, endpoint: moto.url });
    let receives = 0;
    consumerSqs.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'ReceiveMessageCommand') receives++;
        return next(args);
      },
      { step: 'initialize', name: 'countReceives' },
    );
    const consumer = new SqsEventConsumer<QueueEvent>({ sqs: consumerSqs, queueUrl: res.queueUrl, logger: testLogger(), waitSeconds: 1, parse: parseQueueEvent });
    const split = splitQueue(consumer);
    const changes: ProcessingJobStateChange[] = [];
    const notifications: AsyncNotification[] = [];
    const notification = {
      invocationStatus: 'Completed',
      inferenceId: 'j9',
      requestParameters: { endpointName: 'e', inputLocation: `s3://${res.inputBucket}/jobs/j9/input/invocation-1.json` },
      responseParameters: { outputLocation: `s3://${res.outputBucket}/async-results/j9.out` },
    };
    await sqs.send(new SendMessageCommand({ QueueUrl: res.queueUrl, MessageBody: JSON.stringify({ Type: 'Notification', Message: JSON.stringify(notification) }) }));
    await sqs.send(new SendMessageCommand({ QueueUrl: res.queueUrl, MessageBody: JSON.stringify({ detail: { ProcessingJobName: 'videobot-j8', ProcessingJobStatus: 'Completed' } }) }));
    split.stateChanges.start(async (c) => void changes.push(c));
    // Nothing is taken off the queue before both runners listen: no receive is even sent (a started consumer sends
    // one at once), and both messages wait in the queue, visible.
    await new Promise((r) => setTimeout(r, 300));
    expect(receives).toBe(0);
    expect(changes).toEqual([]);
    const waiting = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: res.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(waiting.Attributes).toMatchObject({ ApproximateNumberOfMessages: '2', ApproximateNumberOfMessagesNotVisible: '0' });
    split.notifications.start(async (n) => void notifications.push(n));
    await eventually(() => changes.length === 1 && notifications.length === 1, 10_000, 'both events');
    await split.notifications.stop();
    await split.stateChanges.stop();
    expect(changes[0]).toMatchObject({ jobName: 'videobot-j8', status: 'Completed' });
    expect(notifications[0]).toMatchObject({ inferenceId: 'j9', status: 'Completed' });
    const left = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: res.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(left.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    expect(receives).toBeGreaterThan(0);
    consumerSqs.destroy();
  });
});
