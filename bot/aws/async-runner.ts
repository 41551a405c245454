// Runner on a SageMaker Asynchronous Inference endpoint: the resident worker (processing/serve_http.py) behind
// InvokeEndpointAsync, results from SNS notifications on the bot's queue and from the job's S3 outputs, progress from S3.
//
// Per attempt n of a job, in the input prefix: invocation-<n>.json (the request SageMaker hands the worker: the job's
// input and output prefixes) and invoked-<n>.json (what InvokeEndpointAsync answered: written only after it answered,
// so a repeated submit of the attempt does not queue the video twice). In the output prefix: the job's own files, and
// `cancel`, the marker the worker looks for before it starts a request and between steps (a queued asynchronous
// request cannot be withdrawn through the API). What settles a job is always its S3 outputs (metadata.json,
// error.json) or SageMaker's stored answer; a notification only says when to look, so a lost or repeated one changes
// nothing.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { InvokeEndpointAsyncCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { OUTPUT_FILES, parseFailure } from '../core/contract.js';
import { FAILURE_TEXT, RunnerSubmitError, type JobFailure } from '../core/errors.js';
import type { Job } from '../core/job.js';
import type { Logger, Runner, RunnerEvent, RunnerStatus } from '../core/ports.js';
import type { AsyncNotification } from './async-events.js';
import { awsErrorName, httpStatusOf, parseS3Uri } from './clients.js';
import { ProgressPoller } from './job-outputs.js';
import type { S3ObjectStore } from './s3.js';
import { classifySubmitError } from './sagemaker.js';

/** InvokeEndpointAsync's limits (API reference): RequestTTLSeconds 60–21600, InvocationTimeoutSeconds 1–3600. */
export const REQUEST_TTL_RANGE = [60, 21_600] as const;
export const INVOCATION_TIMEOUT_RANGE = [1, 3600] as const;
export const CANCEL_MARKER = 'cancel';

/** Everything an invocation needs besides the job; bot/main.ts builds it once from config. */
export interface AsyncEndpointSettings {
  /** The endpoint serving each preset (VIDEOBOT_ASYNC_ENDPOINTS); a preset without one is refused. */
  readonly endpoints: Readonly<Record<string, string>>;
  /** How long a request may wait in the endpoint's queue (a scale-out from zero included). */
  readonly requestTtlSeconds: number;
  /** How long one video may run once the worker took it. */
  readonly invocationTimeoutSeconds: number;
  /** Encrypts the objects the runner writes (the request, the cancel marker), when set. */
  readonly kmsKeyId?: string;
}

/** What the worker reads: the body of the object InputLocation names. */
export interface InvocationRequest {
  readonly job_id: string;
  readonly attempt: number;
  readonly input: string;
  readonly output: string;
}

interface Invoked {
  readonly inferenceId: string;
  readonly endpointName: string;
  readonly outputLocation?: string;
  readonly failureLocation?: string;
}

export const invocationFile = (attempt: number): string => `invocation-${attempt}.json`;
export const invokedFile = (attempt: number): string => `invoked-${attempt}.json`;

/** The job id for the first attempt (idempotency: one id per video), `<id>-r<n>` for retry n. */
export function inferenceIdFor(jobId: string, attempt: number): string {
  return attempt > 1 ? `${jobId}-r${attempt}` : jobId;
}

/** `s3://<bucket>/jobs/<id>/input/invocation-<n>.json` → { bucket, jobId, attempt }. */
export function invocationOf(inputLocation: string | undefined): { bucket: string; jobId: string; attempt: number } | undefined {
  const m = inputLocation ? /^s3:\/\/([^/]+)\/jobs\/([^/]+)\/input\/invocation-(\d+)\.json$/.exec(inputLocation) : null;
  return m ? { bucket: m[1]!, jobId: m[2]!, attempt: Number(m[3]) } : undefined;
}

/** The attempt whose invocation a job in this state refers to (while submitting, `attempts` is not yet incremented). */
function currentAttempt(job: Job): number {
  return job.state === 'submitting' || job.state === 'queued' ? job.attempts + 1 : Math.max(job.attempts, 1);
}

/** SageMaker's failureReason of an invocation that left no error.json, as the user reads it. */
export function mapAsyncFailure(reason: string | undefined, settings: AsyncEndpointSettings): JobFailure {
  const text = reason ?? '';
  if (/expired|ttl/i.test(text)) {
    return {
      code: 'CAPACITY',
      message: `No GPU took this video within ${Math.round(settings.requestTtlSeconds / 60)} minutes; try again in a few minutes.`,
      retryable: true,
    };
  }
  if (/timed? ?out|timeout/i.test(text)) {
    return {
      code: 'TIMEOUT',
      message: `The video took longer than the GPU endpoint's limit of ${Math.round(settings.invocationTimeoutSeconds / 60)} minutes and was stopped.`,
      retryable: false,
    };
  }
  return { code: 'INTERRUPTED', message: 'The GPU worker stopped in the middle of this video, so it was not finished.', retryable: true };
}

/** Sorts what InvokeEndpointAsync (or the S3 writes before it) threw into a RunnerSubmitError. */
export function classifyInvokeError(err: unknown, endpointName: string): RunnerSubmitError {
  if (err instanceof RunnerSubmitError) return err;
  const name = awsErrorName(err) ?? 'Error';
  const status = httpStatusOf(err);
  const detail = `${name}${status ? ` (HTTP ${status})` : ''}: ${err instanceof Error ? err.message : String(err)}`;
  if (name === 'ValidationError' && /endpoint/i.test(err instanceof Error ? err.message : '')) {
    return new RunnerSubmitError(
      'RUNNER_REJECTED',
      `The GPU endpoint ${endpointName} does not exist or is not in service; an admin must deploy it (docs/deploy.md, "Asynchronous endpoint").`,
      true,
      detail,
      { cause: err },
    );
  }
  if (name === 'ServiceUnavailable' || name === 'InternalFailure' || name === 'ModelNotReadyException') {
    return new RunnerSubmitError('RUNNER_UNAVAILABLE', FAILURE_TEXT.RUNNER_UNAVAILABLE!, false, detail, { cause: err });
  }
  return classifySubmitError(err, `endpoint ${endpointName}`);
}

/** Where the endpoint's notifications come from (the SQS consumer in production). */
export interface NotificationSource {
  start(handler: (notification: AsyncNotification) => Promise<void>): void;
  stop(): Promise<void>;
}

export interface AsyncEndpointRunnerOptions {
  readonly runtime: SageMakerRuntimeClient;
  readonly s3: S3Client;
  readonly objects: S3ObjectStore;
  readonly events: NotificationSource;
  readonly settings: AsyncEndpointSettings;
  readonly logger: Logger;
  /** How often progress.json is read for running jobs. */
  readonly progressPollMs?: number;
}

export class AsyncEndpointRunner implements Runner {
  /** The inference id of each job's current attempt, as far as this process knows (others are stale). */
  private readonly current = new Map<string, string>();
  /** Reads the progress.json of running jobs (the ref is the inference id). */
  private readonly progress: ProgressPoller;
  private onEvent: ((event: RunnerEvent) => Promise<void>) | undefined;
  private readonly log: Logger;

  constructor(private readonly options: AsyncEndpointRunnerOptions) {
    this.log = options.logger.child({ component: 'async-endpoint-runner' });
    this.progress = new ProgressPoller(options.objects, this.log, options.progressPollMs);
  }

  /** A request may wait its TTL in the queue and then run up to the invocation timeout. */
  get maxRuntimeMs(): number {
    return (this.options.settings.requestTtlSeconds + this.options.settings.invocationTimeoutSeconds) * 1000;
  }

  async start(onEvent: (event: RunnerEvent) => Promise<void>): Promise<void> {
    this.onEvent = onEvent;
    this.options.events.start((notification) => this.onNotification(notification));
    this.progress.start((jobId, ref, progress) => this.emit({ jobId, kind: 'progress', progress, ref }));
  }

  async stop(): Promise<void> {
    this.progress.stop();
    await this.options.events.stop();
    this.onEvent = undefined;
  }

  async submit(job: Job): Promise<{ ref: string }> {
    const attempt = job.attempts + 1;
    const ref = inferenceIdFor(job.id, attempt);
    const endpointName = this.options.settings.endpoints[job.params.model];
    if (!endpointName) {
      const served = Object.keys(this.options.settings.endpoints);
      throw new RunnerSubmitError(
        'RUNNER_REJECTED',
        `The model ${job.params.model} is not deployed on this bot's GPU endpoints; choose ${served.length ? `one of: ${served.join(', ')}` : 'another model'}.`,
        true,
        `no VIDEOBOT_ASYNC_ENDPOINTS entry for ${job.params.model}`,
      );
    }
    const { objects, settings } = this.options;
    try {
      const invoked = await this.readInvoked(job.id, attempt);
      if (invoked) {
        this.log.info({ jobId: job.id, ref }, 'asynchronous request already queued');
      } else {
        // A retried attempt must not see the last attempt's progress.json, error.json or cancel marker.
        await objects.clearOutputs(job.id);
        const request: InvocationRequest = { job_id: job.id, attempt, input: objects.inputUri(job.id), output: objects.outputUri(job.id) };
        await this.putObject(objects.inputBucket, objects.inputPrefix(job.id) + invocationFile(attempt), JSON.stringify(request));
        const answer = await this.options.runtime.send(
          new InvokeEndpointAsyncCommand({
            EndpointName: endpointName,
            InputLocation: `${objects.inputUri(job.id)}${invocationFile(attempt)}`,
            ContentType: 'application/json',
            InferenceId: ref,
            RequestTTLSeconds: settings.requestTtlSeconds,
            InvocationTimeoutSeconds: settings.invocationTimeoutSeconds,
          }),
        );
        const record: Invoked = {
          inferenceId: answer.InferenceId ?? ref,
          endpointName,
          ...(answer.OutputLocation ? { outputLocation: answer.OutputLocation } : {}),
          ...(answer.FailureLocation ? { failureLocation: answer.FailureLocation } : {}),
        };
        await this.putObject(objects.inputBucket, objects.inputPrefix(job.id) + invokedFile(attempt), JSON.stringify(record));
        this.log.info({ jobId: job.id, ref, endpointName }, 'asynchronous request queued');
      }
    } catch (err) {
      throw classifyInvokeError(err, endpointName);
    }
    this.track(job.id, ref);
    return { ref };
  }

  /** Puts the marker; the worker stops the job at its next step, or answers `cancelled` when it dequeues it. */
  async cancel(job: Job): Promise<void> {
    const { objects } = this.options;
    await this.putObject(objects.outputBucket, objects.outputPrefix(job.id) + CANCEL_MARKER, '');
    this.progress.unwatch(job.id);
    this.log.info({ jobId: job.id }, 'cancel marker written');
  }

  async describe(job: Job): Promise<RunnerStatus> {
    const attempt = currentAttempt(job);
    const invoked = await this.readInvoked(job.id, attempt);
    const outcome = await this.outcome(job.id, invoked);
    if (outcome) return outcome;
    if (!invoked) return { status: 'unknown' };
    this.track(job.id, invoked.inferenceId);
    return { status: 'running' };
  }

  /** The job's result as S3 holds it: its own files first, then SageMaker's stored answer or failure. */
  private async outcome(jobId: string, invoked: Invoked | undefined, notification?: AsyncNotification): Promise<RunnerStatus | undefined> {
    const { objects, settings } = this.options;
    const metadata = await objects.getOutputJson(jobId, OUTPUT_FILES.metadata);
    if (metadata) return { status: 'completed', metadata };
    const errorFile = await objects.getOutputJson(jobId, OUTPUT_FILES.error);
    if (errorFile) return { status: 'failed', failure: parseFailure(errorFile) ?? mapAsyncFailure(undefined, settings) };
    const answer = await this.readJson(notification?.outputLocation ?? invoked?.outputLocation);
    if (answer?.status === 'cancelled') return { status: 'stopped' };
    if (answer) {
      // The worker answered without leaving a result file: it can only have lost it.
      return { status: 'failed', failure: { code: 'INTERNAL_ERROR', message: FAILURE_TEXT.INTERNAL_ERROR!, retryable: true } };
    }
    const failureLocation = notification?.failureLocation ?? invoked?.failureLocation;
    const failed = notification?.status === 'Failed' || (failureLocation !== undefined && (await this.exists(failureLocation)));
    if (failed) return { status: 'failed', failure: mapAsyncFailure(notification?.failureReason ?? (await this.readText(failureLocation)), settings) };
    return undefined;
  }

  /** Turns one notification into a runner event. Throws when the bot could not record it (the message is redelivered). */
  private async onNotification(notification: AsyncNotification): Promise<void> {
    const invocation = invocationOf(notification.inputLocation);
    if (!invocation || invocation.bucket !== this.options.objects.inputBucket) {
      this.log.warn({ inferenceId: notification.inferenceId, input: notification.inputLocation }, 'notification for a request this bot did not make');
      return;
    }
    const { jobId, attempt } = invocation;
    const ref = inferenceIdFor(jobId, attempt);
    const known = this.current.get(jobId);
    if (known && known !== ref) {
      this.log.info({ jobId, ref, current: known }, 'ignoring a notification of an earlier attempt');
      return;
    }
    const invoked = await this.readInvoked(jobId, attempt);
    const outcome = await this.outcome(jobId, invoked, notification);
    this.log.debug({ jobId, ref, status: notification.status, outcome: outcome?.status }, 'asynchronous request finished');
    await this.progress.finalRead(jobId, ref);
    if (!outcome || outcome.status === 'completed') {
      const metadata = outcome?.status === 'completed' ? outcome.metadata : undefined;
      if (!metadata) {
        return this.emit({ jobId, kind: 'failed', failure: mapAsyncFailure(notification.failureReason, this.options.settings), ref });
      }
      return this.emit({ jobId, kind: 'completed', metadata, ref });
    }
    if (outcome.status === 'failed') return this.emit({ jobId, kind: 'failed', failure: outcome.failure, ref });
    if (outcome.status === 'stopped') return this.emit({ jobId, kind: 'stopped', ref });
  }

  private async emit(event: RunnerEvent): Promise<void> {
    if (!this.onEvent) throw new Error('runner not started');
    await this.onEvent(event);
  }

  private track(jobId: string, ref: string): void {
    this.current.set(jobId, ref);
    this.progress.watch(jobId, ref);
  }

  private async readInvoked(jobId: string, attempt: number): Promise<Invoked | undefined> {
    const bytes = await this.options.objects.getInput(jobId, invokedFile(attempt));
    if (!bytes) return undefined;
    try {
      const record = JSON.parse(new TextDecoder().decode(bytes)) as Invoked;
      return typeof record.inferenceId === 'string' ? record : undefined;
    } catch {
      return undefined;
    }
  }

  private async putObject(bucket: string, key: string, body: string): Promise<void> {
    const kms = this.options.settings.kmsKeyId;
    await this.options.s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        ...(kms ? { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: kms } : {}),
      }),
    );
  }

  private async readText(uri: string | undefined): Promise<string | undefined> {
    if (!uri) return undefined;
    const { bucket, key } = parseS3Uri(uri);
    try {
      const object = await this.options.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return object.Body ? await object.Body.transformToString() : '';
    } catch (err) {
      if (awsErrorName(err) === 'NoSuchKey' || httpStatusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async exists(uri: string): Promise<boolean> {
    return (await this.readText(uri)) !== undefined;
  }

  private async readJson(uri: string | undefined): Promise<Record<string, unknown> | undefined> {
    const text = await this.readText(uri);
    if (text === undefined) return undefined;
    try {
      const value = JSON.parse(text) as unknown;
      return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
}
