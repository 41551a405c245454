// SageMakerRunner and model staging with the real SageMaker client against the fake, S3 and SQS on moto.
import { CreateProcessingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsEventConsumer } from '../../bot/aws/events.js';
import { stageModel } from '../../bot/aws/model-cache.js';
import { S3ObjectStore } from '../../bot/aws/s3.js';
import {
  PROCESSING_JOB_NAME,
  SageMakerRunner,
  mapFailure,
  parseInstanceTypes,
  processingJobName,
  type ProcessingSettings,
} from '../../bot/aws/sagemaker.js';
import type { Job } from '../../bot/core/job.js';
import type { RunnerEvent } from '../../bot/core/ports.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually, testLogger } from '../support/harness.js';
import { FakeSageMaker } from './fake-sagemaker.js';
import { REGION, createResources, startMoto, useDummyCredentials, type AwsResources, type Moto } from './moto.js';

describe('processing job names', () => {
  it('derives the name from the job id and attempt, within SageMaker\'s pattern', () => {
    expect(processingJobName('videobot', 'k3x9q2')).toBe('videobot-k3x9q2');
    expect(processingJobName('videobot', 'k3x9q2', 3)).toBe('videobot-k3x9q2-r3');
    const odd = processingJobName('videobot', 'slack_T1/U2.abc');
    expect(odd).toMatch(/^videobot-slack-t1-u2-abc-[0-9a-f]{8}$/);
    expect(processingJobName('videobot', 'slack_T1/U2.abc')).toBe(odd);
    expect(processingJobName('videobot', 'slack-T1-U2-abc')).not.toBe(odd);
    const long = processingJobName('videobot-prod-eu', 'x'.repeat(80), 10);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(PROCESSING_JOB_NAME);
    expect(processingJobName('videobot', '---')).toMatch(/^videobot-[0-9a-f]{8}$/);
  });

  it('never gives two ids names that differ only in case (SageMaker lower-cases them in ARNs)', () => {
    const upper = processingJobName('videobot', 'jAbc1');
    const lower = processingJobName('videobot', 'jabc1');
    expect(lower).toBe('videobot-jabc1');
    expect(upper).toMatch(/^videobot-jabc1-[0-9a-f]{8}$/);
    expect(upper.toLowerCase()).not.toBe(lower.toLowerCase());
    expect(processingJobName('videobot', 'JABC1').toLowerCase()).not.toBe(upper.toLowerCase());
    // The prefix keeps its case: the EventBridge rule matches it as configured, IAM in lower case.
    expect(processingJobName('Studio', 'jabc1', 2)).toBe('Studio-jabc1-r2');
  });

  it('parses per-preset instance types', () => {
    expect(parseInstanceTypes(['cogvideox-2b=ml.g6.2xlarge', 'cogvideox1.5-5b = ml.p5.48xlarge'])).toEqual({
      'cogvideox-2b': 'ml.g6.2xlarge',
      'cogvideox1.5-5b': 'ml.p5.48xlarge',
    });
    expect(() => parseInstanceTypes(['ml.g6.2xlarge'])).toThrow(/preset=instance-type/);
  });
});

describe('failure mapping', () => {
  it('retries capacity and internal errors, relays the job\'s error.json or ExitMessage otherwise', () => {
    expect(mapFailure('CapacityError: Unable to provision requested ML compute capacity.', undefined, undefined)).toMatchObject({ code: 'CAPACITY', retryable: true });
    expect(mapFailure('InternalServerError: We encountered an internal error.', undefined, undefined)).toMatchObject({ code: 'INTERNAL_ERROR', retryable: true });
    expect(mapFailure('AlgorithmError: See job logs', 'exit text', { code: 'INVALID_JOB', message: 'frames must be 8N+1', retryable: false })).toEqual({
      code: 'INVALID_JOB',
      message: 'frames must be 8N+1',
      retryable: false,
    });
    expect(mapFailure('AlgorithmError: See job logs', 'The model weights are missing.', undefined)).toEqual({
      code: 'INTERNAL_ERROR',
      message: 'The model weights are missing.',
      retryable: false,
    });
    expect(mapFailure('ClientError: No S3 objects found under S3 URL "s3://b/models/cogvideox-5b/"', undefined, undefined)).toMatchObject({ code: 'MODEL_NOT_AVAILABLE' });
    expect(mapFailure(undefined, undefined, undefined).message).toMatch(/went wrong/);
  });
});

describe('SageMakerRunner', () => {
  let moto: Moto;
  let res: AwsResources;
  let fake: FakeSageMaker;
  let sagemaker: SageMakerClient;
  let s3: S3Client;
  let sqs: SQSClient;
  let settings: ProcessingSettings;

  beforeAll(async () => {
    useDummyCredentials();
    moto = await startMoto();
    res = await createResources(moto.url, 'sm');
    // Events without the job's description: the runner must describe the job to learn its id.
    fake = new FakeSageMaker({ motoUrl: moto.url, thinEvents: true });
    await fake.start();
    sagemaker = new SageMakerClient({ region: REGION, endpoint: fake.url });
    s3 = new S3Client({ region: REGION, endpoint: moto.url, forcePathStyle: true });
    sqs = new SQSClient({ region: REGION, endpoint: moto.url });
    settings = {
      jobPrefix: 'videobot',
      roleArn: 'arn:aws:iam::123456789012:role/p',
      imageUri: 'img:1',
      modelCacheUri: `s3://${res.inputBucket}/models/`,
      instanceType: 'ml.g6e.2xlarge',
      instanceTypes: {},
      volumeGb: 120,
      maxRuntimeSeconds: 1800,
      subnets: [],
      securityGroups: [],
      kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/k',
    };
  });
  afterAll(async () => {
    for (const c of [sagemaker, s3, sqs]) c?.destroy();
    await fake?.stop();
    await moto?.stop();
  });

  function job(id: string, over: Partial<Job> = {}): Job {
    return sampleJob(id, {
      state: 'submitting',
      version: 2,
      params: { ...sampleJob(id).params, model: 'cogvideox-5b', frames: 49, steps: 50, height: 480, width: 720 },
      requester: { platform: 'discord', userId: '42' },
      conversation: { platform: 'discord', channelId: 'c' },
      createdAt: 0,
      updatedAt: 0,
      ...over,
    });
  }

  function runner(): { runner: SageMakerRunner; events: RunnerEvent[] } {
    const objects = new S3ObjectStore({ s3, inputBucket: res.inputBucket, outputBucket: res.outputBucket });
    const consumer = new SqsEventConsumer({ sqs, queueUrl: res.queueUrl, logger: testLogger(), waitSeconds: 1 });
    const r = new SageMakerRunner({ sagemaker, objects, events: consumer, settings, logger: testLogger(), progressPollMs: 50 });
    const events: RunnerEvent[] = [];
    return { runner: r, events };
  }

  it('rejects a name outside SageMaker\'s pattern (the fake enforces it like the API)', async () => {
    const bad = sagemaker.send(
      new CreateProcessingJobCommand({
        ProcessingJobName: 'videobot_bad.name',
        RoleArn: 'r',
        AppSpecification: { ImageUri: 'i' },
        ProcessingResources: { ClusterConfig: { InstanceCount: 1, InstanceType: 'ml.m5.xlarge', VolumeSizeInGB: 1 } },
      }),
    );
    await expect(bad).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('treats a repeated or concurrent submit of the same attempt as one job', async () => {
    const { runner: r } = runner();
    const j = job('sm1');
    const [a, b] = await Promise.all([r.submit(j), r.submit(j)]);
    expect(a).toEqual({ ref: 'videobot-sm1' });
    expect(b).toEqual({ ref: 'videobot-sm1' });
    expect(await r.submit(j)).toEqual({ ref: 'videobot-sm1' });
    expect(fake.jobs.get('videobot-sm1')!.request).toMatchObject({
      ProcessingResources: { ClusterConfig: { InstanceType: 'ml.g6e.2xlarge', VolumeSizeInGB: 120 } },
      StoppingCondition: { MaxRuntimeInSeconds: 1800 },
      NetworkConfig: { EnableNetworkIsolation: true },
      ProcessingOutputConfig: { KmsKeyId: settings.kmsKeyId },
    });
    expect(fake.jobs.get('videobot-sm1')!.request.NetworkConfig.VpcConfig).toBeUndefined();
    // GPU instances with NVMe instance storage reject a volume key.
    expect(fake.jobs.get('videobot-sm1')!.request.ProcessingResources.ClusterConfig.VolumeKmsKeyId).toBeUndefined();
    const creates = fake.callsOf('CreateProcessingJob').filter((c) => c.ProcessingJobName === 'videobot-sm1');
    expect(creates.length).toBeGreaterThanOrEqual(1);
    expect(creates.length).toBeLessThanOrEqual(2); // a second one only in the race, answered ResourceInUse
  });

  it('describes jobs for reconciliation after a restart', async () => {
    const { runner: r } = runner();
    expect(await r.describe(job('never-submitted'))).toEqual({ status: 'unknown' });
    await r.submit(job('sm2'));
    const started = job('sm2', { state: 'starting', attempts: 1, runnerRef: 'videobot-sm2' });
    expect(await r.describe(started)).toEqual({ status: 'running' });
    await fake.complete('videobot-sm2', { metadata: { frames: 49 } });
    expect(await r.describe(started)).toEqual({ status: 'completed', metadata: { frames: 49 } });
    await r.submit(job('sm3'));
    await fake.fail('videobot-sm3', { failureReason: 'AlgorithmError: x', exitMessage: 'Bad image.' });
    expect(await r.describe(job('sm3', { state: 'running', attempts: 1 }))).toEqual({
      status: 'failed',
      failure: { code: 'INTERNAL_ERROR', message: 'Bad image.', retryable: false },
    });
    await r.submit(job('sm4'));
    await r.cancel(job('sm4', { state: 'running', attempts: 1, runnerRef: 'videobot-sm4' }));
    await eventually(() => fake.jobs.get('videobot-sm4')?.status === 'Stopped', 2000);
    expect(await r.describe(job('sm4', { state: 'running', attempts: 1, runnerRef: 'videobot-sm4' }))).toEqual({ status: 'stopped' });
    // Stopping a finished job is not an error.
    await r.cancel(job('sm4', { state: 'running', attempts: 1, runnerRef: 'videobot-sm4' }));
  });

  it('turns queue events (found by describing the job) and progress.json into runner events', async () => {
    const { runner: r, events } = runner();
    await r.start(async (e) => void events.push(e));
    try {
      await r.submit(job('sm5', { attempts: 1 }));
      const name = 'videobot-sm5-r2';
      await fake.progress(name, 3, 50);
      await eventually(() => events.some((e) => e.kind === 'progress' && e.progress.step === 3), 5000, 'progress');
      await fake.complete(name);
      await eventually(() => events.some((e) => e.jobId === 'sm5' && e.kind === 'completed'), 10_000, 'completed');
      // Earlier tests' events are still in the queue; they come through too, for their own jobs.
      expect(events.find((e) => e.jobId === 'sm5' && e.kind === 'completed')).toEqual({ jobId: 'sm5', kind: 'completed', metadata: { seed: 1, timings_s: { denoising: 2 } }, ref: 'videobot-sm5-r2' });
      expect(events.filter((e) => e.jobId === 'sm5' && e.kind === 'started')).toEqual([]); // JobService moves its own submissions to starting
    } finally {
      await r.stop();
    }
  });

  it('stages a preset\'s weights with network access into <model-cache-uri><preset>/', async () => {
    const result = await stageModel({ sagemaker, settings, now: () => Date.UTC(2026, 0, 2, 3, 4, 5) }, 'cogvideox1.5-5b');
    expect(result).toEqual({
      staged: true,
      jobName: 'videobot-stage-cogvideox1-5-5b-20260102030405',
      destination: `s3://${res.inputBucket}/models/cogvideox1.5-5b/`,
    });
    const request = fake.jobs.get('videobot-stage-cogvideox1-5-5b-20260102030405')!.request;
    expect(request).toMatchObject({
      AppSpecification: { ImageUri: 'img:1', ContainerArguments: ['stage', '--model', 'cogvideox1.5-5b', '--dest', '/opt/ml/processing/output'] },
      NetworkConfig: { EnableNetworkIsolation: false },
      ProcessingOutputConfig: {
        Outputs: [{ S3Output: { S3Uri: `s3://${res.inputBucket}/models/cogvideox1.5-5b/`, LocalPath: '/opt/ml/processing/output/cogvideox1.5-5b' } }],
      },
    });
    expect(request.ProcessingInputs ?? []).toEqual([]);
    // Staged weights are encrypted with the data key on upload; the ML volume gets no key (see buildProcessingJobRequest).
    expect(request.ProcessingOutputConfig.KmsKeyId).toBe(settings.kmsKeyId);
    expect(request.ProcessingResources.ClusterConfig.VolumeKmsKeyId).toBeUndefined();
    const onGpu = await stageModel({ sagemaker, settings, now: () => Date.UTC(2026, 0, 2, 3, 4, 6) }, 'cogvideox-2b', { instanceType: 'ml.g6.2xlarge' });
    expect(onGpu.staged && fake.jobs.get(onGpu.jobName)!.request.ProcessingResources.ClusterConfig).toEqual({
      InstanceCount: 1,
      InstanceType: 'ml.g6.2xlarge',
      VolumeSizeInGB: 120,
    });
    expect(await stageModel({ sagemaker, settings }, 'tiny-random')).toMatchObject({ staged: false });
    await expect(stageModel({ sagemaker, settings }, 'nope')).rejects.toThrow(/unknown model/);
  });
});
