// `videobot generate` against a deployed stack (moto + the SageMaker fake): the command touches its own job only.
// Other people's jobs stay as they are, and the shared event queue stays the bot's: the command learns how its
// job ended by looking it up (DescribeProcessingJob, its S3 outputs).
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsBackend } from '../../bot/aws/backend.js';
import { commandSurface, runGenerate, type CommandBackend } from '../../bot/cli.js';
import { loadConfig } from '../../bot/config.js';
import { awsSettings } from '../../bot/main.js';
import { createJobService } from '../../bot/core/service.js';
import { systemClock } from '../../bot/local/system.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually, testLogger } from '../support/harness.js';
import { FakeSageMaker } from './fake-sagemaker.js';
import { REGION, botEnv, createResources, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';

describe('videobot generate on the AWS backend', () => {
  let moto: Moto;
  let sagemaker: FakeSageMaker;
  let res: AwsResources;
  let sqs: SQSClient;

  beforeAll(async () => {
    useDummyCredentials();
    moto = await useMoto();
    res = await createResources(moto.url, 'cmd');
    sagemaker = new FakeSageMaker({ motoUrl: moto.url, eventBus: res.eventBus });
    await sagemaker.start();
    sqs = new SQSClient({ region: REGION, endpoint: moto.url });
  });
  afterAll(async () => {
    sqs?.destroy();
    await sagemaker?.stop();
    await moto?.stop();
  });

  const config = () =>
    loadConfig({
      ...botEnv(res),
      VIDEOBOT_ENHANCER: 'off',
    });

  async function queueDepth(): Promise<number> {
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: res.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  }

  it("makes its own video and leaves other people's jobs and the bot's event queue alone", async () => {
    const aws = createAwsBackend(awsSettings(config()), testLogger(), { endpoints: { s3: moto.url, dynamodb: moto.url, sqs: moto.url, sagemaker: sagemaker.url }, consumeEvents: false, progressPollMs: 50 });
    // What the deployed bot has going: a job on SageMaker (its event waiting on the queue) and a queued one.
    const slack = { requester: { platform: 'slack' as const, userId: 'U-alice' }, conversation: { platform: 'slack' as const, channelId: 'C1' } };
    await aws.store.create(sampleJob('jtheirsrun', { ...slack, state: 'running', runnerRef: 'videobot-jtheirsrun', attempts: 1, createdAt: Date.now(), updatedAt: Date.now() - 3_600_000 }));
    await aws.store.create(sampleJob('jtheirsq', { ...slack, createdAt: Date.now() - 1000, updatedAt: Date.now() - 1000 }));
    const before = { running: await aws.store.get('jtheirsrun'), queued: await aws.store.get('jtheirsq') };
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: res.queueUrl,
        MessageBody: JSON.stringify({ source: 'aws.sagemaker', 'detail-type': 'SageMaker Processing Job State Change', detail: { ProcessingJobName: 'videobot-jtheirsrun', ProcessingJobStatus: 'Completed' } }),
      }),
    );
    const depthBefore = await queueDepth();

    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const backend: CommandBackend = { store: aws.store, objects: aws.objects, notices: [], close: () => aws.close() };
    const exit = runGenerate(['a bee on a flower', '--model', 'tiny-random', '--seed', '3'], {
      stdout,
      stderr,
      signals: new EventEmitter(),
      requester: { platform: 'cli', userId: 'ops' },
      pollMs: 50,
      buildBackend: async () => backend,
      buildService: (b, surface, scope) =>
        createJobService({
          store: b.store,
          objects: b.objects,
          runner: aws.runner,
          chats: [surface],
          clock: systemClock,
          ids: { jobId: () => 'jmine', seed: () => 1 },
          logger: testLogger(),
          defaultModel: 'tiny-random',
          // As bot/main.ts builds a command's service: it reconciles its own job every few seconds.
          limits: { statusIntervalMs: 0, maxConcurrentJobs: 5, reconcileIntervalMs: 200, quietAfterMs: 200 },
          scope,
        }),
    });

    await eventually(() => sagemaker.jobs.has('videobot-jmine'), 10_000, 'the command to start its job');
    await sagemaker.progress('videobot-jmine', 1, 2);
    await sagemaker.complete('videobot-jmine');
    expect(await exit, err).toBe(0);
    expect(out.trim()).toContain(`/${res.outputBucket}/jobs/jmine/output/video.mp4?`);
    expect(err).toContain('Done');

    // Nothing of anyone else's was started, settled or consumed.
    expect([...sagemaker.jobs.keys()]).toEqual(['videobot-jmine']);
    expect(sagemaker.callsOf('DescribeProcessingJob').map((c) => c.ProcessingJobName).filter((n) => n !== 'videobot-jmine')).toEqual([]);
    const fresh = createAwsBackend(awsSettings(config()), testLogger(), { endpoints: { s3: moto.url, dynamodb: moto.url, sqs: moto.url, sagemaker: sagemaker.url }, consumeEvents: false });
    expect(await fresh.store.get('jtheirsrun')).toEqual(before.running);
    expect(await fresh.store.get('jtheirsq')).toEqual(before.queued);
    expect((await fresh.store.get('jmine'))?.state).toBe('delivered');
    await fresh.close();
    expect(await queueDepth()).toBeGreaterThanOrEqual(depthBefore);
  }, 60_000);
});
