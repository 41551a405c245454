// Runner on Amazon SageMaker Processing: one processing job per attempt, events from SQS, progress from S3.
import { createHash } from 'node:crypto';
import {
  CreateProcessingJobCommand,
  DescribeProcessingJobCommand,
  StopProcessingJobCommand,
  type CreateProcessingJobCommandInput,
  type DescribeProcessingJobCommandOutput,
  type SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { OUTPUT_FILES, parseFailure } from '../core/contract.js';
import { FAILURE_TEXT, RunnerSubmitError, type JobFailure } from '../core/errors.js';
import type { Job } from '../core/job.js';
import type { Logger, Runner, RunnerEvent, RunnerStatus } from '../core/ports.js';
import { getPreset } from '../core/presets.js';
import { asPrefixUri, awsErrorName, httpStatusOf } from './clients.js';
import { COMBINE_INSTANCE_TYPE } from './instance-types.js';
import type { ProcessingJobStateChange, StateChangeHandler } from './events.js';
import { ProgressPoller } from './job-outputs.js';
import type { S3ObjectStore } from './s3.js';

/** SageMaker's rule for processing job names. */
export const PROCESSING_JOB_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
const MAX_NAME = 63;

export const CONTAINER = {
  input: '/opt/ml/processing/input',
  output: '/opt/ml/processing/output',
  models: '/opt/ml/processing/models',
} as const;

/** Everything a processing job request needs besides the job; bot/main.ts builds it once from config. */
export interface ProcessingSettings {
  readonly jobPrefix: string;
  readonly roleArn: string;
  readonly imageUri: string;
  /** `s3://bucket/models/`; each preset's weights live under `<uri><preset>/`. */
  readonly modelCacheUri: string;
  readonly instanceType: string;
  /** Per-preset instance types (SAGEMAKER_INSTANCE_TYPES). */
  readonly instanceTypes: Readonly<Record<string, string>>;
  readonly volumeGb: number;
  readonly maxRuntimeSeconds: number;
  readonly subnets: readonly string[];
  readonly securityGroups: readonly string[];
  /** Encrypts the ML volume and the uploaded outputs, when set. */
  readonly kmsKeyId?: string;
}

export { parseInstanceTypes } from './instance-types.js';

/**
 * `<prefix>-<jobId>` for a job's first attempt, `<prefix>-<jobId>-r<n>` for retry n (a retried attempt needs a
 * new name; a repeated submit of the same attempt gets the same one). Ids that are not name-safe, or too long,
 * are shortened and get a hash of the id so that two ids never share a name. Upper-case ids count as not
 * name-safe: SageMaker lower-cases names in job ARNs, so "jA" and "ja" would be one job to IAM and to SageMaker.
 */
export function processingJobName(prefix: string, jobId: string, attempt = 1): string {
  const suffix = attempt > 1 ? `-r${attempt}` : '';
  const clean = jobId.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  let name = `${prefix}-${clean}${suffix}`;
  if (clean !== jobId || name.length > MAX_NAME) {
    const hash = createHash('sha256').update(jobId).digest('hex').slice(0, 8);
    const room = MAX_NAME - prefix.length - 1 - hash.length - 1 - suffix.length;
    const head = clean.slice(0, Math.max(0, room)).replace(/-+$/, '');
    name = `${prefix}-${head ? `${head}-` : ''}${hash}${suffix}`;
  }
  if (!PROCESSING_JOB_NAME.test(name)) throw new Error(`cannot make a SageMaker job name from prefix "${prefix}" and id "${jobId}"`);
  return name;
}

/** The attempt whose processing job a job in this state refers to. */
function currentAttempt(job: Job): number {
  // While submitting, attempts still counts the earlier attempts; it is incremented once the runner answers.
  return job.state === 'submitting' || job.state === 'queued' ? job.attempts + 1 : Math.max(job.attempts, 1);
}

export function instanceTypeFor(settings: ProcessingSettings, preset: string): string {
  return settings.instanceTypes[preset] ?? settings.instanceType;
}

/** The instance a job runs on: a Combine runs no model (ffmpeg stream copy), so a small CPU instance, not a GPU. */
export function instanceTypeForJob(settings: ProcessingSettings, job: Job): string {
  return job.params.clips ? COMBINE_INSTANCE_TYPE : instanceTypeFor(settings, job.params.model);
}

/** The CreateProcessingJob request for one attempt of a job. */
export function buildProcessingJobRequest(
  job: Job,
  attempt: number,
  settings: ProcessingSettings,
  uris: { readonly input: string; readonly output: string },
): CreateProcessingJobCommandInput {
  const preset = job.params.model;
  // Presets built in code (tiny-random) have no weights; an empty S3 input would fail the job.
  const hasWeights = !job.params.clips && (getPreset(preset)?.hfId ?? null) !== null;
  return {
    ProcessingJobName: processingJobName(settings.jobPrefix, job.id, attempt),
    RoleArn: settings.roleArn,
    AppSpecification: {
      ImageUri: settings.imageUri,
      ContainerArguments: ['run', '--input-dir', CONTAINER.input, '--output-dir', CONTAINER.output, '--models-dir', CONTAINER.models],
    },
    ProcessingResources: {
      ClusterConfig: {
        InstanceCount: 1,
        InstanceType: instanceTypeForJob(settings, job) as never,
        VolumeSizeInGB: settings.volumeGb,
        // No VolumeKmsKeyId: SageMaker rejects it on instances with local NVMe storage (g5, g6, g6e, p5 — every
        // GPU type we use), whose instance store is encrypted at rest by the hardware. Outputs use the key below.
      },
    },
    StoppingCondition: { MaxRuntimeInSeconds: settings.maxRuntimeSeconds },
    ProcessingInputs: [
      s3Input('job', uris.input, CONTAINER.input),
      ...(hasWeights ? [s3Input('models', `${asPrefixUri(settings.modelCacheUri)}${preset}/`, `${CONTAINER.models}/${preset}`)] : []),
    ],
    ProcessingOutputConfig: {
      Outputs: [{ OutputName: 'result', S3Output: { S3Uri: uris.output, LocalPath: CONTAINER.output, S3UploadMode: 'Continuous' } }],
      ...(settings.kmsKeyId ? { KmsKeyId: settings.kmsKeyId } : {}),
    },
    // Weights come from the model cache; the job never needs the internet.
    NetworkConfig: {
      EnableNetworkIsolation: true,
      ...(settings.subnets.length > 0 && settings.securityGroups.length > 0
        ? { VpcConfig: { Subnets: [...settings.subnets], SecurityGroupIds: [...settings.securityGroups] } }
        : {}),
    },
    Tags: [
      { Key: 'videobot:job-id', Value: job.id },
      { Key: 'videobot:user', Value: tagValue(`${job.requester.platform}:${job.requester.userId}`) },
    ],
  };
}

export function s3Input(name: string, uri: string, localPath: string) {
  return {
    InputName: name,
    S3Input: {
      S3Uri: uri,
      LocalPath: localPath,
      S3DataType: 'S3Prefix' as const,
      S3InputMode: 'File' as const,
      S3DataDistributionType: 'FullyReplicated' as const,
    },
  };
}

function tagValue(v: string): string {
  return v.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_').slice(0, 256);
}

/** `s3://bucket/jobs/<id>/output/` → `<id>`. */
export function jobIdFromOutputUri(uri: string | undefined): string | undefined {
  return uri ? /\/jobs\/([^/]+)\/output\/?$/.exec(uri)?.[1] : undefined;
}

/** Turns SageMaker's FailureReason, ExitMessage and the job's error.json into what the user reads. */
export function mapFailure(failureReason: string | undefined, exitMessage: string | undefined, errorFile: Record<string, unknown> | undefined): JobFailure {
  const kind = /^\s*([A-Za-z]+Error)\b/.exec(failureReason ?? '')?.[1];
  if (kind === 'CapacityError') return { code: 'CAPACITY', message: FAILURE_TEXT.CAPACITY!, retryable: true };
  if (kind === 'InternalServerError') return { code: 'INTERNAL_ERROR', message: FAILURE_TEXT.INTERNAL_ERROR!, retryable: true };
  const fromJob = parseFailure(errorFile, exitMessage);
  if (fromJob) return fromJob;
  if (kind === 'ClientError' && /models/i.test(failureReason ?? '')) {
    return { code: 'MODEL_NOT_AVAILABLE', message: FAILURE_TEXT.MODEL_NOT_AVAILABLE!, retryable: false };
  }
  // FailureReason is free text (no code): "ClientError: API error (404): manifest for … not found: … Requested image
  // not found", or "Cannot pull algorithm container".
  if (kind === 'ClientError' && /\bimage\b|manifest|container/i.test(failureReason ?? '')) {
    return {
      code: 'RUNNER_REJECTED',
      message: 'The GPU job could not pull its container image; an admin must push the processing image or fix SAGEMAKER_IMAGE_URI (docs/deploy.md).',
      retryable: false,
    };
  }
  // AlgorithmError without error.json: the container's own last words, if it left any.
  return { code: 'INTERNAL_ERROR', message: (exitMessage ?? '').trim() || FAILURE_TEXT.INTERNAL_ERROR!, retryable: false };
}

/**
 * DescribeProcessingJob's answer for a name that has no job, told by the error's name alone: the API reference lists
 * `ResourceNotFound`; SageMaker itself (and moto) answer `ValidationException`, whose text differs between them.
 * For a name we built (it matches the request's pattern, so the request itself is valid) the only thing left to
 * be invalid is the job, so either name means "no such job".
 */
export function isNoSuchJob(err: unknown, name: string): boolean {
  const code = awsErrorName(err);
  return code === 'ResourceNotFound' || (code === 'ValidationException' && PROCESSING_JOB_NAME.test(name));
}

/** Errors whose request can never succeed as it is: retrying them only waits longer for the same answer. */
const ACCESS_ERRORS = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'ExpiredToken',
  'MissingAuthenticationTokenException',
]);

/**
 * Sorts what CreateProcessingJob (or the Describe / S3 calls before it) threw, by the error's name and HTTP status,
 * into a RunnerSubmitError. The SDK has already retried throttling and 5xx answers by the time this sees them.
 */
export function classifySubmitError(err: unknown, instanceType: string): RunnerSubmitError {
  if (err instanceof RunnerSubmitError) return err;
  const name = awsErrorName(err) ?? 'Error';
  const status = httpStatusOf(err);
  const detail = `${name}${status ? ` (HTTP ${status})` : ''}: ${err instanceof Error ? err.message : String(err)}`;
  const options = { cause: err };
  if (name === 'ResourceLimitExceeded') {
    return new RunnerSubmitError(
      'NO_GPU_QUOTA',
      `This workspace has no SageMaker quota for ${instanceType} processing jobs (none granted yet, or all of it in use); an admin must request more in Service Quotas (docs/deploy.md, step 5).`,
      true,
      detail,
      options,
    );
  }
  if (ACCESS_ERRORS.has(name) || status === 401 || status === 403) {
    return new RunnerSubmitError(
      'RUNNER_REJECTED',
      'The bot is not allowed to start SageMaker jobs (access denied); an admin must fix its AWS permissions. Details are in the bot\'s log.',
      true,
      detail,
      options,
    );
  }
  const transient = name === 'ThrottlingException' || status === undefined || status === 429 || status >= 500;
  if (transient) {
    return new RunnerSubmitError('RUNNER_UNAVAILABLE', FAILURE_TEXT.RUNNER_UNAVAILABLE!, false, detail, options);
  }
  // ValidationException (an unknown image, an instance type Processing does not offer, a bad role), ResourceNotFound
  // and any other 4xx: the request is wrong and stays wrong until the configuration changes.
  return new RunnerSubmitError(
    'RUNNER_REJECTED',
    `SageMaker refused the job (${name}): the bot's settings (image, instance type ${instanceType}, role or network) need fixing by an admin. Details are in the bot's log.`,
    true,
    detail,
    options,
  );
}

/** Where state-change events come from (the SQS consumer in production). */
export interface StateChangeSource {
  start(handler: StateChangeHandler): void;
  stop(): Promise<void>;
}

export interface SageMakerRunnerOptions {
  readonly sagemaker: SageMakerClient;
  readonly objects: S3ObjectStore;
  readonly events: StateChangeSource;
  readonly settings: ProcessingSettings;
  readonly logger: Logger;
  /** How often progress.json is read for running jobs. */
  readonly progressPollMs?: number;
}

export class SageMakerRunner implements Runner {
  /** The processing job of each job's current attempt, as far as this process knows (events of others are stale). */
  private readonly current = new Map<string, string>();
  /** Reads the progress.json of running jobs (the ref is the processing job's name). */
  private readonly progress: ProgressPoller;
  /**
   * Jobs this process submitted. JobService moves them to `starting` itself (with the runner ref and the attempt
   * count) once submit() returns, so their InProgress event must not race it with a bare `started`.
   */
  private readonly submittedHere = new Set<string>();
  private onEvent: ((event: RunnerEvent) => Promise<void>) | undefined;
  private readonly log: Logger;

  constructor(private readonly options: SageMakerRunnerOptions) {
    this.log = options.logger.child({ component: 'sagemaker-runner' });
    this.progress = new ProgressPoller(options.objects, this.log, options.progressPollMs);
  }

  /** MaxRuntimeInSeconds of every job: SageMaker stops a job there; the service's store-side check backs it up. */
  get maxRuntimeMs(): number {
    return this.options.settings.maxRuntimeSeconds * 1000;
  }

  nameFor(job: Job, attempt = currentAttempt(job)): string {
    return processingJobName(this.options.settings.jobPrefix, job.id, attempt);
  }

  async start(onEvent: (event: RunnerEvent) => Promise<void>): Promise<void> {
    this.onEvent = onEvent;
    this.options.events.start((change) => this.onStateChange(change));
    this.progress.start((jobId, _name, progress) => this.emit({ jobId, kind: 'progress', progress }));
  }

  async stop(): Promise<void> {
    this.progress.stop();
    await this.options.events.stop();
    this.onEvent = undefined;
  }

  /** Throws RunnerSubmitError: permanent for a refusal (quota, validation, permissions), transient otherwise. */
  async submit(job: Job): Promise<{ ref: string }> {
    const attempt = job.attempts + 1;
    const name = this.nameFor(job, attempt);
    const instanceType = instanceTypeForJob(this.options.settings, job);
    this.submittedHere.add(job.id);
    try {
      const existing = await this.describeByName(name);
      if (existing) {
        this.log.info({ jobId: job.id, name, status: existing.ProcessingJobStatus }, 'processing job already submitted');
      } else {
        // A retried attempt must not see the last attempt's progress.json or error.json.
        await this.options.objects.clearOutputs(job.id);
        const request = buildProcessingJobRequest(job, attempt, this.options.settings, {
          input: this.options.objects.inputUri(job.id),
          output: this.options.objects.outputUri(job.id),
        });
        try {
          await this.options.sagemaker.send(new CreateProcessingJobCommand(request));
          this.log.info({ jobId: job.id, name, instanceType }, 'processing job created');
        } catch (err) {
          if (awsErrorName(err) !== 'ResourceInUse') throw err;
          this.log.info({ jobId: job.id, name }, 'processing job name in use; treating it as submitted');
        }
      }
    } catch (err) {
      this.submittedHere.delete(job.id);
      throw classifySubmitError(err, instanceType);
    }
    this.track(job.id, name);
    this.submittedHere.add(job.id);
    return { ref: name };
  }

  async cancel(job: Job): Promise<void> {
    const name = job.state === 'submitting' || !job.runnerRef ? this.nameFor(job) : job.runnerRef;
    try {
      await this.options.sagemaker.send(new StopProcessingJobCommand({ ProcessingJobName: name }));
      this.log.info({ jobId: job.id, name }, 'processing job stopping');
    } catch (err) {
      const code = awsErrorName(err);
      // Already finished or never created: nothing to stop.
      if (code !== 'ValidationException' && code !== 'ResourceNotFound') throw err;
      this.log.info({ jobId: job.id, name, code }, 'nothing to stop');
    }
  }

  async describe(job: Job): Promise<RunnerStatus> {
    const name = job.state === 'submitting' || !job.runnerRef ? this.nameFor(job) : job.runnerRef;
    const described = await this.describeByName(name);
    if (!described) return { status: 'unknown' };
    this.current.set(job.id, name);
    switch (described.ProcessingJobStatus) {
      case 'InProgress':
      case 'Stopping':
        this.track(job.id, name);
        return { status: 'running' };
      case 'Completed':
        return { status: 'completed', metadata: (await this.options.objects.getOutputJson(job.id, OUTPUT_FILES.metadata)) ?? {} };
      case 'Failed':
        return { status: 'failed', failure: await this.failureOf(job.id, described.FailureReason, described.ExitMessage) };
      case 'Stopped':
        return { status: 'stopped' };
      default:
        return { status: 'unknown' };
    }
  }

  /** Turns one state change into a runner event. Throws when the bot could not record it (the message is redelivered). */
  private async onStateChange(change: ProcessingJobStateChange): Promise<void> {
    if (!change.jobName.startsWith(`${this.options.settings.jobPrefix}-`)) return;
    const jobId = jobIdFromOutputUri(change.outputUri) ?? (await this.jobIdOf(change.jobName));
    if (!jobId) {
      this.log.warn({ name: change.jobName }, 'event for a processing job this bot does not know');
      return;
    }
    const known = this.current.get(jobId);
    if (known && known !== change.jobName) {
      this.log.info({ jobId, name: change.jobName, current: known }, 'ignoring an event of an earlier attempt');
      return;
    }
    const jlog = this.log.child({ jobId, name: change.jobName });
    jlog.debug({ status: change.status }, 'processing job state change');
    switch (change.status) {
      case 'InProgress':
        this.track(jobId, change.jobName);
        if (this.submittedHere.has(jobId)) return;
        return this.emit({ jobId, kind: 'started', ref: change.jobName });
      case 'Completed': {
        this.finished(jobId);
        await this.progress.finalRead(jobId, change.jobName);
        const metadata = (await this.options.objects.getOutputJson(jobId, OUTPUT_FILES.metadata)) ?? {};
        return this.emit({ jobId, kind: 'completed', metadata, ref: change.jobName });
      }
      case 'Failed': {
        this.finished(jobId);
        const failure = await this.failureOf(jobId, change.failureReason, change.exitMessage);
        jlog.warn({ reason: change.failureReason, exitMessage: change.exitMessage, code: failure.code }, 'processing job failed');
        return this.emit({ jobId, kind: 'failed', failure, ref: change.jobName });
      }
      case 'Stopped':
        this.finished(jobId);
        return this.emit({ jobId, kind: 'stopped', ref: change.jobName });
      default:
        return; // Stopping: the Stopped event follows
    }
  }

  private async emit(event: RunnerEvent): Promise<void> {
    if (!this.onEvent) throw new Error('runner not started');
    await this.onEvent(event);
  }

  private track(jobId: string, name: string): void {
    this.current.set(jobId, name);
    this.progress.watch(jobId, name);
  }

  private finished(jobId: string): void {
    this.progress.unwatch(jobId);
    this.submittedHere.delete(jobId);
  }

  private async failureOf(jobId: string, reason: string | undefined, exitMessage: string | undefined): Promise<JobFailure> {
    const errorFile = await this.options.objects.getOutputJson(jobId, OUTPUT_FILES.error);
    return mapFailure(reason, exitMessage, errorFile);
  }

  private async jobIdOf(name: string): Promise<string | undefined> {
    const described = await this.describeByName(name);
    const uri = described?.ProcessingOutputConfig?.Outputs?.map((o) => o.S3Output?.S3Uri).find(Boolean);
    return jobIdFromOutputUri(uri);
  }

  private async describeByName(name: string): Promise<DescribeProcessingJobCommandOutput | undefined> {
    try {
      return await this.options.sagemaker.send(new DescribeProcessingJobCommand({ ProcessingJobName: name }));
    } catch (err) {
      if (isNoSuchJob(err, name)) return undefined;
      throw err;
    }
  }
}
