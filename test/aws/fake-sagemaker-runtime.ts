// A drivable loopback fake of the SageMaker runtime's InvokeEndpointAsync and of one asynchronous endpoint behind it,
// after the API reference and the asynchronous-inference guide:
//   POST /endpoints/{EndpointName}/async-invocations, the request in X-Amzn-SageMaker-* headers (InputLocation
//   required; Inference-Id; RequestTTLSeconds 60–21600; InvocationTimeoutSeconds 1–3600), answered 202 with
//   {"InferenceId"} and the X-Amzn-SageMaker-OutputLocation / -FailureLocation headers; an unknown endpoint is a
//   400 ValidationError. Requests wait in the endpoint's queue; each instance takes one at a time
//   (MaxConcurrentInvocationsPerInstance = 1), reads the body from S3 (moto), POSTs it to its container's
//   /invocations, stores a 2xx answer at the OutputLocation and publishes the success notification, or stores the
//   failure at the FailureLocation and publishes the error notification (SNS in moto, subscribed to the bot's queue).
// The container is a worker process per instance: the real one (`python -m processing serve` with
// VIDEOBOT_SERVE_TRANSPORT=http, i.e. serve-http) by default, or the command the test gives (STUB_WORKER_COMMAND: the
// stub worker, test/support/stub-serve-http.mjs, the same HTTP and S3 contract without torch). The instance count
// is the test's to drive (scaleTo), as Application Auto Scaling would from the backlog metrics the fake reports;
// `autoScaleOut` does what the HasBacklogWithoutCapacity step policy does: one instance when work waits and none runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PYTHON } from '../support/video.js';
import { REGION, freePort } from './moto.js';

/** The endpoint container's command before its flags: the real resident worker from the project's venv (through the
 * tests' fork server when it runs: test/support/video.ts PYTHON). */
export const REAL_WORKER_COMMAND: readonly string[] = [PYTHON, '-m', 'processing', 'serve'];
/** The stub worker (test/support/stub-serve-http.mjs) on the node running the tests. */
export const STUB_WORKER_COMMAND: readonly string[] = [process.execPath, resolve('test/support/stub-serve-http.mjs')];

const ACCOUNT = '123456789012';
const INFERENCE_ID = /^\S[\p{L}\p{N}\p{P}\p{S} ]{0,63}$/u;

class ApiError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

/** One SNS call in moto's query protocol (the project has no SNS SDK client). */
export async function snsCall(motoUrl: string, params: Record<string, string>): Promise<string> {
  const r = await fetch(motoUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${REGION}/sns/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Version: '2010-03-31', ...params }).toString(),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`SNS ${params.Action} failed: ${r.status} ${text}`);
  return text;
}

/** An SNS topic in moto that delivers to the queue (the SNS envelope unless `raw`), as infra subscribes it. */
export async function createTopicToQueue(motoUrl: string, name: string, queueArn: string, raw = false): Promise<string> {
  const arn = await createTopic(motoUrl, name);
  await subscribeQueue(motoUrl, arn, queueArn, raw);
  return arn;
}

/** An SNS topic in moto; returns its ARN. */
export async function createTopic(motoUrl: string, name: string): Promise<string> {
  const created = await snsCall(motoUrl, { Action: 'CreateTopic', Name: name });
  return /<TopicArn>([^<]+)<\/TopicArn>/.exec(created)![1]!;
}

/** Subscribes the queue to the topic (raw: without the SNS envelope); returns the subscription's ARN. */
export async function subscribeQueue(motoUrl: string, topicArn: string, queueArn: string, raw = false): Promise<string> {
  const subscribed = await snsCall(motoUrl, {
    Action: 'Subscribe',
    TopicArn: topicArn,
    Protocol: 'sqs',
    Endpoint: queueArn,
    ...(raw ? { 'Attributes.entry.1.key': 'RawMessageDelivery', 'Attributes.entry.1.value': 'true' } : {}),
  });
  return /<SubscriptionArn>([^<]+)<\/SubscriptionArn>/.exec(subscribed)![1]!;
}

export async function unsubscribe(motoUrl: string, subscriptionArn: string): Promise<void> {
  await snsCall(motoUrl, { Action: 'Unsubscribe', SubscriptionArn: subscriptionArn });
}

export interface QueuedRequest {
  readonly inferenceId: string;
  readonly inputLocation: string;
  readonly outputLocation: string;
  readonly failureLocation: string;
  readonly ttlSeconds: number;
  readonly timeoutSeconds: number;
  readonly receivedAt: number;
  readonly headers: Record<string, string>;
}

interface Instance {
  readonly process: ChildProcess;
  readonly url: string;
  busy: boolean;
  /** The inference id it runs. */
  current?: string;
  readonly workdir: string;
  readonly stderr: string[];
}

export interface FakeAsyncEndpointOptions {
  readonly name: string;
  readonly motoUrl: string;
  /** AsyncInferenceConfig.OutputConfig.S3OutputPath / S3FailurePath. */
  readonly s3OutputPath: string;
  readonly s3FailurePath: string;
  readonly successTopicArn: string;
  readonly errorTopicArn: string;
  /** The worker's command before its flags (default REAL_WORKER_COMMAND). */
  readonly workerCommand?: readonly string[];
  /** Extra flags for `serve-http` (the test's progress and cancel intervals). */
  readonly workerArgs?: readonly string[];
}

export class FakeAsyncEndpoint {
  readonly queue: QueuedRequest[] = [];
  readonly inFlight = new Map<string, QueuedRequest>();
  readonly done: { request: QueuedRequest; status: 'Completed' | 'Failed'; answer: string }[] = [];
  /** Whether the endpoint scales out from zero by itself when work waits (the HasBacklogWithoutCapacity policy). */
  autoScaleOut = false;
  /** Notifications to leave unsent (lost), and whether to send each one twice (SNS and SQS deliver at least once). */
  dropNotifications = 0;
  duplicateNotifications = false;
  readonly instances: Instance[] = [];
  private readonly s3: S3Client;
  private launching: Promise<void> | undefined;
  private closed = false;

  constructor(readonly options: FakeAsyncEndpointOptions) {
    this.s3 = new S3Client({ region: REGION, endpoint: options.motoUrl, forcePathStyle: true });
  }

  /** CloudWatch's ApproximateBacklogSize: queued plus in flight. */
  backlogSize(): number {
    return this.queue.length + this.inFlight.size;
  }

  hasBacklogWithoutCapacity(): boolean {
    return this.backlogSize() > 0 && this.instances.length === 0;
  }

  /** Launches or stops instances until `count` run, each with a fresh worker that answers /ping. */
  async scaleTo(count: number): Promise<void> {
    while (this.instances.length > count) {
      const idle = this.instances.find((i) => !i.busy) ?? this.instances[this.instances.length - 1]!;
      await this.terminate(idle);
    }
    while (this.instances.length < count) this.instances.push(await this.launch());
    this.dispatch();
  }

  /** The worker of the instance running `inferenceId` dies (SIGKILL); SageMaker replaces the instance. */
  async crashWorkerOf(inferenceId: string): Promise<void> {
    const instance = this.instances.find((i) => i.current === inferenceId);
    if (!instance) throw new Error(`no instance runs ${inferenceId}`);
    instance.process.kill('SIGKILL');
  }

  enqueue(request: QueuedRequest): void {
    this.queue.push(request);
    if (this.autoScaleOut && this.hasBacklogWithoutCapacity()) {
      this.launching ??= this.scaleTo(1).finally(() => (this.launching = undefined));
    }
    this.dispatch();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.launching?.catch(() => {});
    for (const instance of [...this.instances]) await this.terminate(instance);
    this.s3.destroy();
  }

  private async launch(): Promise<Instance> {
    const port = await freePort();
    const workdir = mkdtempSync(join(tmpdir(), 'videobot-endpoint-'));
    const [command, ...prefix] = this.options.workerCommand ?? REAL_WORKER_COMMAND;
    const child = spawn(
      command!,
      [...prefix, '--host', '127.0.0.1', '--port', String(port), '--device', 'cpu',
        '--models-dir', join(workdir, 'models'), '--workdir', join(workdir, 'work'), ...(this.options.workerArgs ?? [])],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          VIDEOBOT_SERVE_TRANSPORT: 'http', // what the endpoint's model sets: `serve` is the HTTP worker
          AWS_ENDPOINT_URL: this.options.motoUrl,
          AWS_ACCESS_KEY_ID: 'testing',
          AWS_SECRET_ACCESS_KEY: 'testing',
          AWS_DEFAULT_REGION: REGION,
        },
      },
    );
    const stderr: string[] = [];
    child.stderr?.on('data', (d: Buffer) => {
      stderr.push(d.toString());
      if (stderr.length > 200) stderr.shift();
      if (process.env.TEST_WORKER_LOG) process.stderr.write(d);
    });
    const instance: Instance = { process: child, url: `http://127.0.0.1:${port}`, busy: false, workdir, stderr };
    child.once('exit', () => void this.replaced(instance));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}): ${stderr.join('').slice(-3000)}`);
      try {
        const r = await fetch(`${instance.url}/ping`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`the worker did not answer /ping: ${stderr.join('').slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return instance;
  }

  private async terminate(instance: Instance): Promise<void> {
    const at = this.instances.indexOf(instance);
    if (at >= 0) this.instances.splice(at, 1);
    if (instance.process.exitCode === null && instance.process.signalCode === null) {
      const exited = new Promise((r) => instance.process.once('exit', r));
      instance.process.kill('SIGTERM');
      await exited;
    }
    rmSync(instance.workdir, { recursive: true, force: true });
  }

  /** An instance whose worker died is replaced by a fresh one (SageMaker's health check does this). */
  private async replaced(instance: Instance): Promise<void> {
    const at = this.instances.indexOf(instance);
    if (at < 0 || this.closed) return;
    this.instances.splice(at, 1);
    rmSync(instance.workdir, { recursive: true, force: true });
    this.instances.push(await this.launch());
    this.dispatch();
  }

  private dispatch(): void {
    for (const instance of this.instances) {
      if (instance.busy || this.queue.length === 0) continue;
      const request = this.queue.shift()!;
      instance.busy = true;
      instance.current = request.inferenceId;
      this.inFlight.set(request.inferenceId, request);
      void this.run(instance, request).catch((err: unknown) => {
        if (!this.closed) throw err;
      }).finally(() => {
        instance.busy = false;
        instance.current = undefined;
        this.inFlight.delete(request.inferenceId);
        this.dispatch();
      });
    }
  }

  private async run(instance: Instance, request: QueuedRequest): Promise<void> {
    if (Date.now() - request.receivedAt > request.ttlSeconds * 1000) {
      return this.finish(request, 'Failed', 'Request expired: the request was not processed within RequestTTLSeconds.');
    }
    let body: Uint8Array;
    try {
      const { bucket, key } = s3Location(request.inputLocation);
      const object = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      body = await object.Body!.transformToByteArray();
    } catch {
      return this.finish(request, 'Failed', `ClientError: Could not read the input at ${request.inputLocation}.`);
    }
    let status: number;
    let answer: string;
    try {
      const r = await fetch(`${instance.url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': request.headers['x-amzn-sagemaker-content-type'] ?? 'application/octet-stream' },
        body,
        signal: AbortSignal.timeout(request.timeoutSeconds * 1000),
      });
      status = r.status;
      answer = await r.text();
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError';
      return this.finish(request, 'Failed', timedOut
        ? 'ClientError: Model invocation timed out after InvocationTimeoutSeconds.'
        : 'ClientError: Received server error (0) from model: the connection was closed. See the endpoint logs.');
    }
    if (status >= 200 && status < 300) return this.finish(request, 'Completed', answer);
    return this.finish(request, 'Failed', `ClientError: Received server error (${status}) from model with message "${answer}". See the endpoint logs.`);
  }

  private async finish(request: QueuedRequest, status: 'Completed' | 'Failed', answer: string): Promise<void> {
    const location = status === 'Completed' ? request.outputLocation : request.failureLocation;
    const { bucket, key } = s3Location(location);
    await this.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: answer }));
    this.done.push({ request, status, answer });
    const now = new Date().toISOString();
    const notification = {
      awsRegion: REGION,
      eventTime: now,
      receivedTime: new Date(request.receivedAt).toISOString(),
      invocationStatus: status,
      ...(status === 'Failed' ? { failureReason: answer } : {}),
      requestParameters: {
        contentType: request.headers['x-amzn-sagemaker-content-type'] ?? 'application/octet-stream',
        endpointName: this.options.name,
        inputLocation: request.inputLocation,
      },
      responseParameters: status === 'Completed'
        ? { contentType: 'application/json', outputLocation: request.outputLocation }
        : { contentType: 'text/plain; charset=utf-8', failureLocation: request.failureLocation },
      inferenceId: request.inferenceId,
      eventVersion: '1.0',
      eventSource: 'aws:sagemaker',
      eventName: 'InferenceResult',
    };
    if (this.dropNotifications > 0) {
      this.dropNotifications -= 1;
      return;
    }
    const topic = status === 'Completed' ? this.options.successTopicArn : this.options.errorTopicArn;
    for (let n = this.duplicateNotifications ? 2 : 1; n > 0; n -= 1) {
      await snsCall(this.options.motoUrl, { Action: 'Publish', TopicArn: topic, Message: JSON.stringify(notification) });
    }
  }
}

export class FakeSageMakerRuntime {
  readonly endpoints = new Map<string, FakeAsyncEndpoint>();
  readonly calls: { endpoint: string; headers: Record<string, string> }[] = [];
  private server?: Server;
  url = '';

  addEndpoint(options: FakeAsyncEndpointOptions): FakeAsyncEndpoint {
    const endpoint = new FakeAsyncEndpoint(options);
    this.endpoints.set(options.name, endpoint);
    return endpoint;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    for (const endpoint of this.endpoints.values()) await endpoint.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _ of req) {
      /* the body: InvokeEndpointAsync sends none */
    }
    try {
      const m = /^\/endpoints\/([^/]+)\/async-invocations$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) throw new ApiError('UnknownOperationException', `no operation ${req.method} ${req.url}`, 404);
      const name = decodeURIComponent(m[1]!);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      this.calls.push({ endpoint: name, headers });
      const endpoint = this.endpoints.get(name);
      if (!endpoint) throw new ApiError('ValidationError', `Endpoint ${name} of account ${ACCOUNT} not found.`);
      const inputLocation = headers['x-amzn-sagemaker-inputlocation'];
      if (!inputLocation || !/^(s3|https):\/\/\S+$/.test(inputLocation)) throw new ApiError('ValidationError', 'InputLocation must be an S3 URI.');
      const inferenceId = headers['x-amzn-sagemaker-inference-id'] ?? crypto.randomUUID();
      if (!INFERENCE_ID.test(inferenceId)) throw new ApiError('ValidationError', `InferenceId ${inferenceId} does not satisfy its pattern.`);
      const ttl = intHeader(headers, 'x-amzn-sagemaker-requestttlseconds', 60, 21_600, 21_600);
      const timeout = intHeader(headers, 'x-amzn-sagemaker-invocationtimeoutseconds', 1, 3600, 900);
      const request: QueuedRequest = {
        inferenceId,
        inputLocation,
        outputLocation: `${endpoint.options.s3OutputPath.replace(/\/?$/, '/')}${inferenceId}.out`,
        failureLocation: `${endpoint.options.s3FailurePath.replace(/\/?$/, '/')}${inferenceId}-error.out`,
        ttlSeconds: ttl,
        timeoutSeconds: timeout,
        receivedAt: Date.now(),
        headers,
      };
      endpoint.enqueue(request);
      res.writeHead(202, {
        'content-type': 'application/json',
        'x-amzn-sagemaker-outputlocation': request.outputLocation,
        'x-amzn-sagemaker-failurelocation': request.failureLocation,
      });
      res.end(JSON.stringify({ InferenceId: inferenceId }));
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('InternalFailure', String(err), 500);
      res.writeHead(e.status, { 'content-type': 'application/json', 'x-amzn-errortype': e.type });
      res.end(JSON.stringify({ __type: e.type, message: e.message }));
    }
  }
}

function intHeader(headers: Record<string, string>, name: string, min: number, max: number, fallback: number): number {
  const raw = headers[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ApiError('ValidationError', `${name} must be between ${min} and ${max}; got ${raw}.`);
  }
  return value;
}

function s3Location(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) throw new Error(`not an s3:// object: ${uri}`);
  return { bucket: m[1]!, key: m[2]! };
}
