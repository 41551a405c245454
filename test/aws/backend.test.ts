// End-to-end scenarios: a real JobService on createAwsBackend, with moto (S3 behind a fault proxy, DynamoDB,
// SQS, EventBridge), the SageMaker fake and the Bedrock fake. The fake "runs" jobs when the test says so.
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAwsBackend, type AwsBackend } from '../../bot/aws/backend.js';
import { loadConfig } from '../../bot/config.js';
import { awsSettings } from '../../bot/main.js';
import { createJobService, type JobService } from '../../bot/core/service.js';
import { systemClock } from '../../bot/local/system.js';
import { eventually, sequentialIds, testLogger } from '../support/harness.js';
import { FakeBedrock } from './fake-bedrock.js';
import { FakeSageMaker } from './fake-sagemaker.js';
import { FaultProxy } from './fault-proxy.js';
import { eventuallyOnMoto, REGION, botEnv, createResources, queueDepth, routeEventsToNewQueue, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';
import { RecordingChat, alice, conversation } from '../support/recording-chat.js';

describe('AWS backend with JobService', () => {
  let moto: Moto;
  let proxy: FaultProxy;
  let sagemaker: FakeSageMaker;
  let bedrock: FakeBedrock;
  let res: AwsResources;
  let sqs: SQSClient;
  const running: { service: JobService; backend: AwsBackend }[] = [];
  let testNo = 0;

  beforeAll(async () => {
    useDummyCredentials();
    moto = await useMoto();
    res = await createResources(moto.url, 'e2e');
    proxy = new FaultProxy(moto.url);
    await proxy.start();
    sagemaker = new FakeSageMaker({ motoUrl: moto.url, eventBus: res.eventBus });
    await sagemaker.start();
    bedrock = new FakeBedrock();
    await bedrock.start();
    sqs = new SQSClient({ region: REGION, endpoint: moto.url });
  });
  beforeEach(async () => {
    res = await routeEventsToNewQueue(moto.url, res); // the last test's stopped consumer still polls the old one
  });
  afterEach(async () => {
    while (running.length) await stopBot(running.pop()!);
  });
  afterAll(async () => {
    await sagemaker?.stop();
    await bedrock?.stop();
    await proxy?.stop();
    sqs?.destroy();
    await moto?.stop();
  });

  function config() {
    return loadConfig({
      ...botEnv(res),
      SAGEMAKER_INSTANCE_TYPES: 'cogvideox-2b=ml.g6.2xlarge',
      SAGEMAKER_SUBNETS: 'subnet-1,subnet-2',
      SAGEMAKER_SECURITY_GROUPS: 'sg-1',
      VIDEOBOT_ENHANCER: 'bedrock',
    });
  }

  /** One bot process: its own SDK clients and JobService, on the shared table, buckets and queue. */
  async function startBot(chat: RecordingChat, idPrefix: string) {
    const backend = createAwsBackend(awsSettings(config()), testLogger(), {
      endpoints: { s3: proxy.url, dynamodb: moto.url, sqs: moto.url, sagemaker: sagemaker.url, bedrock: bedrock.url },
      eventWaitSeconds: 1,
      progressPollMs: 50,
    });
    const service = createJobService({
      store: backend.store,
      objects: backend.objects,
      runner: backend.runner,
      ...(backend.enhancer ? { enhancer: backend.enhancer } : {}),
      chats: [chat],
      clock: systemClock,
      ids: sequentialIds(idPrefix),
      logger: testLogger(),
      defaultModel: 'tiny-random',
      limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxAttempts: 3, maxConcurrentJobs: 5 },
    });
    await service.start();
    const bot = { service, backend };
    running.push(bot);
    return bot;
  }

  async function stopBot(bot: { service: JobService; backend: AwsBackend }): Promise<void> {
    const at = running.indexOf(bot);
    if (at >= 0) running.splice(at, 1);
    await bot.service.stop();
    await bot.backend.close();
  }

  async function setup() {
    const chat = new RecordingChat();
    const prefix = `e${++testNo}x`;
    const bot = await startBot(chat, prefix);
    return { chat, bot, prefix };
  }

  /**
   * Every state change SageMaker published so far has reached the bot and been handled (the consumer deletes a
   * message only then), so a duplicate or late one has done whatever it would do.
   */
  const eventsHandled = async () => {
    await sagemaker.published();
    await eventuallyOnMoto(async () => (await queueDepth(sqs, res.queueUrl)) === 0, 10_000, 'every event handled');
  };

  const stateOf = async (bot: { backend: AwsBackend }, id: string) => (await bot.backend.store.get(id))?.state;
  const waitState = (bot: { backend: AwsBackend }, id: string, state: string, ms = 10_000) =>
    eventuallyOnMoto(async () => (await stateOf(bot, id)) === state, ms, `${id} ${state}`);

  it('runs a job to delivery: request, job.json, progress, outputs, one post (an S3 5xx on the video is retried)', async () => {
    const { chat, bot } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', model: 'cogvideox-2b', seed: 42 } });
    const name = `videobot-${job.id}`;
    await waitState(bot, job.id, 'starting');
    const request = sagemaker.jobs.get(name)!.request;
    expect(request).toMatchObject({
      RoleArn: 'arn:aws:iam::123456789012:role/videobot-processing',
      AppSpecification: {
        ImageUri: '123456789012.dkr.ecr.us-east-1.amazonaws.com/videobot-processing:abc',
        ContainerArguments: ['run', '--input-dir', '/opt/ml/processing/input', '--output-dir', '/opt/ml/processing/output', '--models-dir', '/opt/ml/processing/models'],
      },
      ProcessingResources: { ClusterConfig: { InstanceCount: 1, InstanceType: 'ml.g6.2xlarge', VolumeSizeInGB: 100 } },
      StoppingCondition: { MaxRuntimeInSeconds: 3600 },
      NetworkConfig: { EnableNetworkIsolation: true, VpcConfig: { Subnets: ['subnet-1', 'subnet-2'], SecurityGroupIds: ['sg-1'] } },
      Tags: [
        { Key: 'videobot:job-id', Value: job.id },
        { Key: 'videobot:user', Value: 'slack:U-alice' },
      ],
    });
    expect(request.ProcessingInputs).toEqual([
      { InputName: 'job', S3Input: { S3Uri: `s3://${res.inputBucket}/jobs/${job.id}/input/`, LocalPath: '/opt/ml/processing/input', S3DataType: 'S3Prefix', S3InputMode: 'File', S3DataDistributionType: 'FullyReplicated' } },
      { InputName: 'models', S3Input: { S3Uri: `s3://${res.inputBucket}/models/cogvideox-2b/`, LocalPath: '/opt/ml/processing/models/cogvideox-2b', S3DataType: 'S3Prefix', S3InputMode: 'File', S3DataDistributionType: 'FullyReplicated' } },
    ]);
    expect(request.ProcessingOutputConfig.Outputs).toEqual([
      { OutputName: 'result', S3Output: { S3Uri: `s3://${res.outputBucket}/jobs/${job.id}/output/`, LocalPath: '/opt/ml/processing/output', S3UploadMode: 'Continuous' } },
    ]);
    const jobFile = JSON.parse(new TextDecoder().decode(await bot.backend.objects.getInput(job.id, 'job.json')));
    expect(jobFile).toMatchObject({ id: job.id, model: 'cogvideox-2b', prompt: 'a bee', seed: 42 });
    expect((await bot.backend.store.get(job.id))?.runnerRef).toBe(name);

    await sagemaker.progress(name, 2, 50);
    await eventuallyOnMoto(async () => (await bot.backend.store.get(job.id))?.progress?.step === 2, 5000, 'progress 2');
    expect(await stateOf(bot, job.id)).toBe('running');
    await sagemaker.progress(name, 0, 0, 'encoding');
    await waitState(bot, job.id, 'encoding');

    proxy.failNext('GET', `/jobs/${job.id}/output/video.mp4`, 1, 500);
    await sagemaker.complete(name, { video: new Uint8Array([9, 9, 9]), metadata: { seed: 42, peak_gpu_gib: 11.5 } });
    await waitState(bot, job.id, 'delivered');
    expect(chat.videos).toHaveLength(1);
    expect(chat.videos[0]!.bytes).toEqual(new Uint8Array([9, 9, 9]));
    expect(chat.videos[0]!.link).toContain(`/jobs/${job.id}/output/video.mp4?`);
    expect((await bot.backend.store.get(job.id))?.result).toMatchObject({ sizeBytes: 3, metadata: { seed: 42, peak_gpu_gib: 11.5 } });
    expect(proxy.seen.filter((s) => s.method === 'GET' && s.path.startsWith(`/${res.outputBucket}/jobs/${job.id}/output/video.mp4`)).map((s) => s.status)).toEqual([500, 200]);
  });

  it('posts once when the same completion event arrives twice', async () => {
    const { chat, bot } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a cat' } });
    const name = `videobot-${job.id}`;
    await waitState(bot, job.id, 'starting');
    expect(sagemaker.jobs.get(name)!.request.ProcessingInputs).toHaveLength(1); // tiny-random has no weights to mount
    await sagemaker.complete(name);
    await sagemaker.publish(name); // EventBridge and SQS deliver at least once
    await waitState(bot, job.id, 'delivered');
    await sagemaker.publish(name);
    await eventsHandled();
    expect(chat.videos).toHaveLength(1);
  });

  it('delivers once when the bot restarts between submit and completion', async () => {
    const chat = new RecordingChat();
    const prefix = `e${++testNo}x`;
    const first = await startBot(chat, prefix);
    const { job } = await first.service.submit({ requester: alice, conversation, request: { prompt: 'a fox' } });
    const name = `videobot-${job.id}`;
    await waitState(first, job.id, 'starting');
    await stopBot(first);
    // The queue the next bot reads from (the stopped one's last long poll would hide the event for a second).
    res = await routeEventsToNewQueue(moto.url, res);
    // While no bot runs, the job finishes; its event waits in the queue.
    await sagemaker.complete(name);
    const second = await startBot(chat, `${prefix}b`);
    // Reconciliation (DescribeProcessingJob) and the queued event race; compare-and-set lets one post.
    await waitState(second, job.id, 'delivered');
    await eventsHandled();
    expect(chat.videos).toHaveLength(1);
    expect(sagemaker.callsOf('DescribeProcessingJob').some((c) => c.ProcessingJobName === name)).toBe(true);
  });

  it('retries a CapacityError under a new job name, ignores the old attempt\'s late events, and delivers', async () => {
    const { chat, bot } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a owl' } });
    const first = `videobot-${job.id}`;
    await waitState(bot, job.id, 'starting');
    await sagemaker.fail(first, { failureReason: 'CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type.' });
    const second = `videobot-${job.id}-r2`;
    await eventually(() => sagemaker.jobs.has(second), 10_000, 'second attempt');
    await eventuallyOnMoto(async () => (await bot.backend.store.get(job.id))?.runnerRef === second, 10_000, 'second attempt recorded');
    expect((await bot.backend.store.get(job.id))?.attempts).toBe(2);
    await sagemaker.publish(first); // a late duplicate of attempt 1's failure
    await eventsHandled();
    expect(await stateOf(bot, job.id)).toBe('starting');
    await sagemaker.complete(second);
    await waitState(bot, job.id, 'delivered');
    expect(chat.videos).toHaveLength(1);
  });

  it('shows the processing job\'s own message when it fails with an AlgorithmError', async () => {
    const { chat, bot } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a whale' } });
    const name = `videobot-${job.id}`;
    await waitState(bot, job.id, 'starting');
    const message = 'The GPU ran out of memory. Try fewer frames or a smaller model.';
    await sagemaker.fail(name, {
      failureReason: 'AlgorithmError: See job logs for more information',
      exitMessage: message,
      errorJson: { code: 'GPU_OUT_OF_MEMORY', message, retryable: false },
    });
    await waitState(bot, job.id, 'failed');
    expect((await bot.backend.store.get(job.id))?.failure).toEqual({ code: 'GPU_OUT_OF_MEMORY', message, retryable: false });
    await eventually(() => chat.views.some((v) => v.job.id === job.id && v.view.headline === `Failed: ${message}`), 5000, 'failure shown');
    expect(sagemaker.jobs.has(`${name}-r2`)).toBe(false);
    expect(chat.videos).toHaveLength(0);
  });

  it('stops the processing job on cancel', async () => {
    const { chat, bot } = await setup();
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'a crab' } });
    const name = `videobot-${job.id}`;
    await waitState(bot, job.id, 'starting');
    const cancelled = await bot.service.cancel(job.id, alice);
    expect(cancelled.state).toBe('cancelled');
    expect(sagemaker.callsOf('StopProcessingJob')).toContainEqual({ ProcessingJobName: name });
    await eventually(() => sagemaker.jobs.get(name)?.status === 'Stopped', 5000, 'Stopped');
    await eventsHandled(); // the Stopping and Stopped events arrive and change nothing
    expect(await stateOf(bot, job.id)).toBe('cancelled');
    expect(chat.videos).toHaveLength(0);
  });

  it('enhances the prompt with Bedrock before submitting', async () => {
    const { bot } = await setup();
    bedrock.replies = [{ text: 'A red fox trots through fresh snow at dawn, low tracking shot.' }];
    const { job } = await bot.service.submit({ requester: alice, conversation, request: { prompt: 'fox in snow', enhance: true } });
    await waitState(bot, job.id, 'starting');
    const jobFile = JSON.parse(new TextDecoder().decode(await bot.backend.objects.getInput(job.id, 'job.json')));
    expect(jobFile.prompt).toBe('A red fox trots through fresh snow at dawn, low tracking shot.');
    expect((await bot.backend.store.get(job.id))?.originalPrompt).toBe('fox in snow');
  });
});
