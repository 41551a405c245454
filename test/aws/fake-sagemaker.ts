// A drivable loopback fake of SageMaker's JSON API for processing jobs (Create / Describe / Stop), after the
// API reference: it checks names and the request's shape, keeps jobs InProgress until the test moves them,
// writes the job's outputs into the (moto) S3 output bucket and puts the state-change event on the (moto) bus: the
// test file's own bus (createResources' eventBus), where SageMaker uses the default one, so files sharing the run's
// moto server do not get each other's events.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { REGION, awsJson } from './moto.js';

const NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
/** Families whose instances come with NVMe instance storage (the GPU ones the bot uses, and the *d variants). */
const LOCAL_STORAGE_INSTANCE = /^ml\.(g4dn|g5|g6|g6e|gr6|p3dn|p4d|p4de|p5|p5e|p5en|[cmr][5-7][a-z]*d)\./;
const ACCOUNT = '123456789012';

type Json = Record<string, any>;

export interface FakeProcessingJob {
  readonly request: Json;
  status: 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';
  failureReason?: string;
  exitMessage?: string;
  readonly createdAt: number;
  endedAt?: number;
}

class ApiError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

export interface FakeSageMakerOptions {
  readonly motoUrl: string;
  /** The event bus the state changes go to (createResources' eventBus). */
  readonly eventBus: string;
  /** Put an InProgress event on the bus when a job is created (SageMaker does). */
  readonly emitOnCreate?: boolean;
  /** Leave ProcessingOutputConfig out of event details, so the bot must describe the job to find its id. */
  readonly thinEvents?: boolean;
  /**
   * The error for a job name that has no job. The API reference lists `ResourceNotFound` for Describe and Stop;
   * SageMaker itself answers `ValidationException` ("Could not find ..."; apache/airflow#19195), as moto does.
   */
  readonly missingJobError?: 'ResourceNotFound' | 'ValidationException';
}

/** An error the test makes CreateProcessingJob answer (`ResourceLimitExceeded` for a quota of 0, a 503, ...). */
export interface CreateRefusal {
  readonly type: string;
  readonly message: string;
  readonly status?: number;
}

export class FakeSageMaker {
  readonly jobs = new Map<string, FakeProcessingJob>();
  readonly calls: { target: string; body: Json }[] = [];
  /** While set, every CreateProcessingJob is answered with this error (after the request's shape was checked). */
  refuseCreate: CreateRefusal | undefined;
  /** State changes being put on the bus now (StopProcessingJob's second one goes out after the call answered). */
  private readonly publishing = new Set<Promise<void>>();
  private server?: Server;
  private readonly s3: S3Client;
  url = '';

  constructor(private readonly options: FakeSageMakerOptions) {
    this.s3 = new S3Client({ region: REGION, endpoint: options.motoUrl, forcePathStyle: true });
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.s3.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  callsOf(operation: string): Json[] {
    return this.calls.filter((c) => c.target === `SageMaker.${operation}`).map((c) => c.body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    let body: Json = {};
    try {
      body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Json) : {};
      this.calls.push({ target, body });
      if (req.method !== 'POST' || !String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256')) {
        throw new ApiError('MissingAuthenticationTokenException', 'Missing or malformed request', 403);
      }
      let out: Json;
      switch (target) {
        case 'SageMaker.CreateProcessingJob':
          out = await this.create(body);
          break;
        case 'SageMaker.DescribeProcessingJob':
          out = this.describe(this.mustFind(body.ProcessingJobName));
          break;
        case 'SageMaker.StopProcessingJob':
          out = await this.stopJob(body.ProcessingJobName);
          break;
        default:
          throw new ApiError('UnknownOperationException', `unsupported operation ${target}`);
      }
      send(res, 200, out);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('InternalFailure', String(err), 500);
      res.setHeader('x-amzn-errortype', e.type);
      send(res, e.status, { __type: e.type, message: e.message });
    }
  }

  private async create(body: Json): Promise<Json> {
    const name = body.ProcessingJobName;
    if (typeof name !== 'string' || name.length > 63 || !NAME.test(name)) {
      throw new ApiError(
        'ValidationException',
        `1 validation error detected: Value '${name}' at 'processingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`,
      );
    }
    const cluster = body.ProcessingResources?.ClusterConfig;
    if (!body.RoleArn || !body.AppSpecification?.ImageUri || !cluster?.InstanceType || !cluster?.InstanceCount || !cluster?.VolumeSizeInGB) {
      throw new ApiError('ValidationException', 'RoleArn, AppSpecification.ImageUri and ProcessingResources.ClusterConfig are required');
    }
    // API reference, ProcessingClusterConfig.VolumeKmsKeyId: no volume key on instance types with local (NVMe) storage.
    if (cluster.VolumeKmsKeyId && LOCAL_STORAGE_INSTANCE.test(cluster.InstanceType)) {
      throw new ApiError('ValidationException', `Volume KMS key is not supported for instance type ${cluster.InstanceType} with instance storage`);
    }
    for (const input of body.ProcessingInputs ?? []) {
      if (!String(input.S3Input?.LocalPath ?? '').startsWith('/opt/ml/processing/') || !/^s3:\/\//.test(input.S3Input?.S3Uri ?? '')) {
        throw new ApiError('ValidationException', `invalid processing input ${input.InputName}`);
      }
    }
    for (const output of body.ProcessingOutputConfig?.Outputs ?? []) {
      if (!['Continuous', 'EndOfJob'].includes(output.S3Output?.S3UploadMode) || !String(output.S3Output?.LocalPath ?? '').startsWith('/opt/ml/processing/')) {
        throw new ApiError('ValidationException', `invalid processing output ${output.OutputName}`);
      }
    }
    if (this.refuseCreate) throw new ApiError(this.refuseCreate.type, this.refuseCreate.message, this.refuseCreate.status ?? 400);
    if (this.jobs.has(name)) throw new ApiError('ResourceInUse', `Job with name ${name} already exists`);
    const job: FakeProcessingJob = { request: body, status: 'InProgress', createdAt: Date.now() / 1000 };
    this.jobs.set(name, job);
    if (this.options.emitOnCreate ?? true) await this.publish(name);
    return { ProcessingJobArn: arn(name) };
  }

  private async stopJob(name: string): Promise<Json> {
    const job = this.mustFind(name);
    if (job.status !== 'InProgress') throw new ApiError('ValidationException', `The processing job ${name} is in status ${job.status} and cannot be stopped`);
    job.status = 'Stopping';
    await this.publish(name);
    const stopped = new Promise<void>((resolve) =>
      setTimeout(() => {
        job.status = 'Stopped';
        job.endedAt = Date.now() / 1000;
        resolve(this.publish(name));
      }, 20),
    );
    this.publishing.add(stopped);
    void stopped.catch(() => {}).finally(() => this.publishing.delete(stopped));
    return {};
  }

  private mustFind(name: string): FakeProcessingJob {
    const job = this.jobs.get(name);
    if (!job) {
      if (this.options.missingJobError === 'ValidationException') throw new ApiError('ValidationException', `Could not find requested job with name ${name}`);
      throw new ApiError('ResourceNotFound', `Processing job ${name} does not exist`);
    }
    return job;
  }

  describe(job: FakeProcessingJob): Json {
    const r = job.request;
    return {
      ProcessingJobName: r.ProcessingJobName,
      ProcessingJobArn: arn(r.ProcessingJobName),
      ProcessingJobStatus: job.status,
      ProcessingInputs: r.ProcessingInputs,
      ProcessingOutputConfig: r.ProcessingOutputConfig,
      ProcessingResources: r.ProcessingResources,
      StoppingCondition: r.StoppingCondition,
      AppSpecification: r.AppSpecification,
      NetworkConfig: r.NetworkConfig,
      RoleArn: r.RoleArn,
      CreationTime: job.createdAt,
      LastModifiedTime: Date.now() / 1000,
      ...(job.endedAt ? { ProcessingEndTime: job.endedAt } : {}),
      ...(job.failureReason ? { FailureReason: job.failureReason } : {}),
      ...(job.exitMessage ? { ExitMessage: job.exitMessage } : {}),
    };
  }

  /** Resolves once every state change published so far is on the bus (and so in the queue its rule feeds). */
  async published(): Promise<void> {
    while (this.publishing.size) await Promise.allSettled([...this.publishing]);
  }

  /** Puts the job's current state on the event bus, as SageMaker does on every status change. */
  async publish(name: string): Promise<void> {
    const detail = this.describe(this.mustFind(name));
    if (this.options.thinEvents) delete detail.ProcessingOutputConfig;
    const out = await awsJson(this.options.motoUrl, 'AWSEvents.PutEvents', {
      Entries: [
        {
          EventBusName: this.options.eventBus,
          Source: 'aws.sagemaker',
          DetailType: 'SageMaker Processing Job State Change',
          Detail: JSON.stringify(detail),
          Resources: [arn(name)],
        },
      ],
    });
    if (out.FailedEntryCount) throw new Error(`PutEvents failed: ${JSON.stringify(out)}`);
  }

  // --- what the processing container would do -------------------------------------------------

  private outputLocation(name: string): { bucket: string; prefix: string } {
    const uri: string = this.mustFind(name).request.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri;
    const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri)!;
    return { bucket: m[1]!, prefix: m[2]!.endsWith('/') ? m[2]! : `${m[2]}/` };
  }

  async writeOutput(name: string, file: string, data: Uint8Array | string): Promise<void> {
    const { bucket, prefix } = this.outputLocation(name);
    await this.s3.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + file, Body: data }));
  }

  /** Rewrites progress.json (Continuous upload mode puts it in S3 while the job runs). */
  progress(name: string, step: number, total: number, phase = 'denoising'): Promise<void> {
    return this.writeOutput(name, 'progress.json', JSON.stringify({ phase, step, total, eta_s: (total - step) * 3, elapsed_s: step * 3 }));
  }

  async complete(name: string, opts: { video?: Uint8Array; metadata?: Json } = {}): Promise<void> {
    const job = this.mustFind(name);
    await this.writeOutput(name, 'video.mp4', opts.video ?? new Uint8Array([0, 0, 0, 24, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d]));
    await this.writeOutput(name, 'poster.jpg', new Uint8Array([0xff, 0xd8, 0xff, 0xd9]));
    await this.writeOutput(name, 'metadata.json', JSON.stringify(opts.metadata ?? { seed: 1, timings_s: { denoising: 2 } }));
    job.status = 'Completed';
    job.endedAt = Date.now() / 1000;
    await this.publish(name);
  }

  /** `AlgorithmError` with error.json (the container's failure), or a platform failure such as `CapacityError`. */
  async fail(name: string, opts: { failureReason: string; exitMessage?: string; errorJson?: Json }): Promise<void> {
    const job = this.mustFind(name);
    if (opts.errorJson) await this.writeOutput(name, 'error.json', JSON.stringify(opts.errorJson));
    job.status = 'Failed';
    job.failureReason = opts.failureReason;
    if (opts.exitMessage) job.exitMessage = opts.exitMessage;
    job.endedAt = Date.now() / 1000;
    await this.publish(name);
  }

  /** Moves a job on without publishing (the bot was down and the event is still queued, or lost). */
  setStatus(name: string, status: FakeProcessingJob['status']): void {
    this.mustFind(name).status = status;
  }
}

function arn(name: string): string {
  return `arn:aws:sagemaker:${REGION}:${ACCOUNT}:processing-job/${name.toLowerCase()}`;
}

function send(res: ServerResponse, status: number, body: Json): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `fake-${Date.now()}` });
  res.end(JSON.stringify(body));
}
