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
import { RunnerSubmitError } from '../../bot/core/errors.js';
import type { Job } from '../../bot/core/job.js';
import { sampleJob } from '../support/fixtures.js';
import pino from 'pino';
import type { ChatSurface, RunnerEvent, StatusView } from '../../bot/core/ports.js';
import { createHarness, eventually, sequentialIds, testLogger } from '../support/harness.js';
import { FakeSageMaker } from './fake-sagemaker.js';
import { REGION, createResources, freePort, useDummyCredentials, useMoto, type AwsResources, type Moto } from './moto.js';

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
    // The image is missing from ECR (or the role cannot pull it): nothing a retry can change.
    expect(
      mapFailure('ClientError: API error (404): manifest for 1.dkr.ecr.us-east-1.amazonaws.com/videobot:abc not found: manifest unknown: Requested image not found', undefined, undefined),
    ).toMatchObject({ code: 'RUNNER_REJECTED', retryable: false, message: expect.stringMatching(/image/) });
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
    moto = await useMoto();
    res = await createResources(moto.url, 'sm');
    // Events without the job's description: the runner must describe the job to learn its id.
    fake = new FakeSageMaker({ motoUrl: moto.url, eventBus: res.eventBus, thinEvents: true });
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

  describe('a job name with no job', () => {
    it('is told by the error\'s name, whichever words come with it: SageMaker\'s ValidationException', async () => {
      const strict = new FakeSageMaker({ motoUrl: moto.url, eventBus: res.eventBus, missingJobError: 'ValidationException' });
      await strict.start();
      const client = new SageMakerClient({ region: REGION, endpoint: strict.url });
      try {
        const objects = new S3ObjectStore({ s3, inputBucket: res.inputBucket, outputBucket: res.outputBucket });
        const consumer = new SqsEventConsumer({ sqs, queueUrl: res.queueUrl, logger: testLogger(), waitSeconds: 1 });
        const r = new SageMakerRunner({ sagemaker: client, objects, events: consumer, settings, logger: testLogger() });
        expect(await r.describe(job('v-none', { state: 'running', attempts: 1, runnerRef: 'videobot-v-none' }))).toEqual({ status: 'unknown' });
        expect(await r.submit(job('v1'))).toEqual({ ref: 'videobot-v1' });
        expect(strict.jobs.has('videobot-v1')).toBe(true);
        await r.cancel(job('v-none', { state: 'running', attempts: 1, runnerRef: 'videobot-v-none' })); // nothing to stop
      } finally {
        client.destroy();
        await strict.stop();
      }
    });

    it('is told by the error\'s name against moto too (its words differ again)', async () => {
      const client = new SageMakerClient({ region: REGION, endpoint: moto.url });
      try {
        const objects = new S3ObjectStore({ s3, inputBucket: res.inputBucket, outputBucket: res.outputBucket });
        const consumer = new SqsEventConsumer({ sqs, queueUrl: res.queueUrl, logger: testLogger(), waitSeconds: 1 });
        const r = new SageMakerRunner({ sagemaker: client, objects, events: consumer, settings, logger: testLogger() });
        expect(await r.describe(job('m-none', { state: 'running', attempts: 1, runnerRef: 'videobot-m-none' }))).toEqual({ status: 'unknown' });
        // The first submit reaches CreateProcessingJob (it used to stop at moto's "Could not find processing job").
        expect(await r.submit(job('m1'))).toEqual({ ref: 'videobot-m1' });
        // Read back raw: moto's timestamps in the description are strings the SDK will not parse.
        const described = await fetch(moto.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-amz-json-1.1',
            'x-amz-target': 'SageMaker.DescribeProcessingJob',
            authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${REGION}/sagemaker/aws4_request, SignedHeaders=host, Signature=0`,
          },
          body: JSON.stringify({ ProcessingJobName: 'videobot-m1' }),
        }).then((r) => r.json() as Promise<Record<string, unknown>>);
        expect(described).toMatchObject({ ProcessingJobName: 'videobot-m1', RoleArn: settings.roleArn });
      } finally {
        client.destroy();
      }
    });
  });

  describe('a CreateProcessingJob that fails', () => {
    /** SDK retries off, so each answer is seen as SageMaker gave it. */
    function oneShotRunner(endpoint = fake.url): SageMakerRunner {
      const client = new SageMakerClient({ region: REGION, endpoint, maxAttempts: 1 });
      const objects = new S3ObjectStore({ s3, inputBucket: res.inputBucket, outputBucket: res.outputBucket });
      const consumer = new SqsEventConsumer({ sqs, queueUrl: res.queueUrl, logger: testLogger(), waitSeconds: 1 });
      return new SageMakerRunner({ sagemaker: client, objects, events: consumer, settings, logger: testLogger() });
    }

    async function submitError(r: SageMakerRunner, j: Job): Promise<RunnerSubmitError> {
      const err = await r.submit(j).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RunnerSubmitError);
      return err as RunnerSubmitError;
    }

    it('is a permanent refusal for a quota of 0, an invalid request or denied access, with the API\'s words for the log', async () => {
      const r = oneShotRunner();
      try {
        fake.refuseCreate = {
          type: 'ResourceLimitExceeded',
          message: "The account-level service limit 'ml.g6e.2xlarge for processing job usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 1 Instances.",
        };
        const quota = await submitError(r, job('q1'));
        expect(quota).toMatchObject({ code: 'NO_GPU_QUOTA', permanent: true });
        expect(quota.message).toBe(
          'This workspace has no SageMaker quota for ml.g6e.2xlarge processing jobs (none granted yet, or all of it in use); an admin must request more in Service Quotas (docs/deploy.md, step 5).',
        );
        expect(quota.detail).toMatch(/^ResourceLimitExceeded \(HTTP 400\): The account-level service limit/);

        fake.refuseCreate = { type: 'ValidationException', message: 'Cannot find repository: videobot in registry ID: 123456789012' };
        expect(await submitError(r, job('q2'))).toMatchObject({ code: 'RUNNER_REJECTED', permanent: true, detail: expect.stringContaining('Cannot find repository') });

        fake.refuseCreate = { type: 'AccessDeniedException', message: 'User is not authorized to perform: sagemaker:CreateProcessingJob' };
        const denied = await submitError(r, job('q3'));
        expect(denied).toMatchObject({ code: 'RUNNER_REJECTED', permanent: true });
        expect(denied.message).toMatch(/not allowed to start SageMaker jobs/);
        expect(fake.jobs.has('videobot-q1')).toBe(false);
      } finally {
        fake.refuseCreate = undefined;
      }
    });

    it('is transient for throttling, a 5xx answer or no answer at all', async () => {
      const r = oneShotRunner();
      try {
        fake.refuseCreate = { type: 'ThrottlingException', message: 'Rate exceeded' };
        expect(await submitError(r, job('t1'))).toMatchObject({ code: 'RUNNER_UNAVAILABLE', permanent: false });
        fake.refuseCreate = { type: 'ServiceUnavailable', message: 'Service is unavailable', status: 503 };
        expect(await submitError(r, job('t2'))).toMatchObject({ code: 'RUNNER_UNAVAILABLE', permanent: false, detail: expect.stringContaining('HTTP 503') });
      } finally {
        fake.refuseCreate = undefined;
      }
      const nobody = `http://127.0.0.1:${await freePort()}`;
      expect(await submitError(oneShotRunner(nobody), job('t3'))).toMatchObject({ code: 'RUNNER_UNAVAILABLE', permanent: false });
    });

    it('fails the job through the JobService at once, with one CreateProcessingJob and the sentence for the user', async () => {
      fake.refuseCreate = { type: 'ResourceLimitExceeded', message: 'The account-level service limit is 0 Instances.' };
      const lines: Record<string, unknown>[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
      const views: StatusView[] = [];
      const chat: ChatSurface = {
        platform: 'test',
        announce: async (j: Job) => j.conversation,
        retract: async () => {},
        showStatus: async (_j: Job, v: StatusView) => void views.push(v),
        postVideo: async () => {
          throw new Error('nothing may be posted');
        },
      } as ChatSurface;
      const h = await createHarness([chat], { makeRunner: () => oneShotRunner(), logger, limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxAttempts: 3 } });
      try {
        const creates = fake.callsOf('CreateProcessingJob').length;
        const { job: j } = await h.service.submit({ requester: { platform: 'test', userId: 'u' }, conversation: { platform: 'test', channelId: 'c' }, request: { prompt: 'a bee' } });
        await eventually(async () => (await h.store.get(j.id))?.state === 'failed', 10_000, 'failed');
        await h.service.idle();
        expect(fake.callsOf('CreateProcessingJob').length - creates).toBe(1);
        expect((await h.store.get(j.id))?.failure).toMatchObject({ code: 'NO_GPU_QUOTA', retryable: false, message: expect.stringContaining('no SageMaker quota for ml.g6e.2xlarge') });
        await eventually(() => views.some((v) => v.jobId === j.id && v.final), 2000, 'final status');
        expect(lines.find((l) => l.alert === 'SUBMIT_PERMANENT')).toMatchObject({ jobId: j.id, code: 'NO_GPU_QUOTA', detail: expect.stringContaining('ResourceLimitExceeded') });
      } finally {
        fake.refuseCreate = undefined;
        await h.close();
      }
    });
  });

  describe('reconciliation through the JobService', () => {
    it('delivers a job whose Completed event was lost, and stops a job past its time limit with StopProcessingJob', async () => {
      const objects = new S3ObjectStore({ s3, inputBucket: res.inputBucket, outputBucket: res.outputBucket });
      const consumer = new SqsEventConsumer({ sqs, queueUrl: res.queueUrl, logger: testLogger(), waitSeconds: 1 });
      const r = new SageMakerRunner({ sagemaker, objects, events: consumer, settings, logger: testLogger(), progressPollMs: 60_000 });
      const posted: string[] = [];
      const chat = {
        platform: 'test',
        announce: async (j: Job) => j.conversation,
        retract: async () => {},
        showStatus: async () => {},
        postVideo: async (j: Job) => void posted.push(j.id),
      } as unknown as ChatSurface;
      const h = await createHarness([chat], {
        objects,
        makeRunner: () => r,
        ids: sequentialIds('rec'),
        limits: { statusIntervalMs: 0, retryBackoffMs: 0, maxConcurrentJobs: 2, reconcileIntervalMs: 0, quietAfterMs: 60_000, timeoutGraceMs: 15 * 60_000 },
      });
      try {
        const who = (userId: string) => ({ requester: { platform: 'test' as const, userId }, conversation: { platform: 'test' as const, channelId: 'c' }, request: { prompt: 'a bee' } });
        const { job: lost } = await h.service.submit(who('a'));
        const { job: slow } = await h.service.submit(who('b'));
        for (const j of [lost, slow]) await eventually(async () => (await h.store.get(j.id))?.state === 'starting', 10_000, `${j.id} starting`);
        // The job finishes, but its event never reaches the bot.
        await fake.writeOutput(`videobot-${lost.id}`, 'video.mp4', new Uint8Array([0, 0, 0, 24, 0x66, 0x74, 0x79, 0x70]));
        await fake.writeOutput(`videobot-${lost.id}`, 'metadata.json', JSON.stringify({ seed: 9 }));
        fake.setStatus(`videobot-${lost.id}`, 'Completed');

        await h.clock.advance(61_000);
        await h.service.reconcile();
        expect((await h.store.get(lost.id))?.state).toBe('delivered');
        expect(posted).toEqual([lost.id]);
        expect((await h.store.get(slow.id))?.state).toBe('starting'); // still InProgress: left alone

        await h.clock.advance((settings.maxRuntimeSeconds + 15 * 60) * 1000);
        await h.service.reconcile();
        expect((await h.store.get(slow.id))?.failure).toEqual({
          code: 'TIMEOUT',
          message: 'The job ran longer than its 30-minute time limit and was stopped.',
          retryable: false,
        });
        expect(fake.callsOf('StopProcessingJob').map((c) => c.ProcessingJobName)).toContain(`videobot-${slow.id}`);
        expect(posted).toEqual([lost.id]);
      } finally {
        await h.close();
      }
    });
  });

  it('stages a preset\'s weights with network access into <model-cache-uri><preset>/', async () => {
    const result = await stageModel({ sagemaker, settings, now: () => Date.UTC(2026, 0, 2, 3, 4, 5) }, 'cogvideox1.5-5b');
    expect(result).toEqual({
      staged: true,
      jobName: 'videobot-stage-cogvideox1-5-5b-20260102030405',
      destination: `s3://${res.inputBucket}/models/cogvideox1.5-5b/`,
      instanceType: 'ml.g6e.2xlarge',
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
    // By default on the GPU type the preset's own jobs use (a per-preset override wins over the default type): the
    // compile cache `stage` saves there is keyed by that GPU. --cpu: weights only, on a CPU instance.
    const perPreset = { ...settings, instanceTypes: { 'cogvideox-5b': 'ml.p5.4xlarge' } };
    const typeOf = (r: Awaited<ReturnType<typeof stageModel>>) => (r.staged ? fake.jobs.get(r.jobName)!.request.ProcessingResources.ClusterConfig.InstanceType : undefined);
    const own = await stageModel({ sagemaker, settings: perPreset, now: () => Date.UTC(2026, 0, 2, 3, 4, 7) }, 'cogvideox-5b');
    expect(own).toMatchObject({ staged: true, instanceType: 'ml.p5.4xlarge' });
    expect(typeOf(own)).toBe('ml.p5.4xlarge');
    const fallback = await stageModel({ sagemaker, settings: perPreset, now: () => Date.UTC(2026, 0, 2, 3, 4, 8) }, 'cogvideox-5b-i2v');
    expect(typeOf(fallback)).toBe('ml.g6e.2xlarge');
    const cpu = await stageModel({ sagemaker, settings: perPreset, now: () => Date.UTC(2026, 0, 2, 3, 4, 9) }, 'cogvideox-5b', { onCpu: true });
    expect(cpu).toMatchObject({ staged: true, instanceType: 'ml.m5.2xlarge' });
    expect(typeOf(cpu)).toBe('ml.m5.2xlarge');
    expect(await stageModel({ sagemaker, settings }, 'tiny-random')).toMatchObject({ staged: false });
    await expect(stageModel({ sagemaker, settings }, 'nope')).rejects.toThrow(/unknown model/);
  });
});
