// Wires the AWS backend (DynamoDB, S3, SageMaker + SQS events, Bedrock) from typed settings; bot/main.ts builds them from config.
import type { Clock, Enhancer, Logger, Moderator } from '../core/ports.js';
import { BedrockEnhancer } from './bedrock.js';
import { GuardrailModerator } from './guardrail.js';
import { createAwsClients, type AwsClients, type AwsService } from './clients.js';
import { DynamoJobStore } from './dynamodb.js';
import { SqsEventConsumer } from './events.js';
import { stageModel, type StageModelOptions, type StageModelResult } from './model-cache.js';
import { S3ObjectStore } from './s3.js';
import { AsyncEndpointRunner, type AsyncEndpointSettings, type NotificationSource } from './async-runner.js';
import { CombineRoutingRunner, parseQueueEvent, splitQueue, type QueueEvent } from './combine-router.js';
import { SageMakerRunner, type ProcessingSettings, type StateChangeSource } from './sagemaker.js';

/** For processes that do not consume the event queue: they never receive a state change. */
const NO_EVENTS: StateChangeSource & NotificationSource = { start: () => {}, stop: async () => {} };

/** What the AWS backend is built from: every name and address it needs, already checked (bot/main.ts awsSettings). */
export interface AwsSettings {
  readonly region: string;
  /** One endpoint for every service (AWS_ENDPOINT_URL: LocalStack, moto, a VPC endpoint proxy). */
  readonly endpoint?: string;
  readonly jobTable: string;
  /** Finished jobs expire from the table after this many days. */
  readonly jobTtlDays: number;
  readonly inputBucket: string;
  readonly outputBucket: string;
  /** Encrypts the objects the bot writes, when set. */
  readonly kmsKeyId?: string;
  readonly eventsQueueUrl: string;
  readonly processing: ProcessingSettings;
  /** Set when videos run on SageMaker asynchronous endpoints (VIDEOBOT_AWS_RUNNER=async) instead of Processing jobs. */
  readonly asyncEndpoints?: AsyncEndpointSettings;
  /** A Bedrock guardrail that checks every prompt and enhanced prompt (ApplyGuardrail), whichever enhancer is used. */
  readonly guardrail?: { readonly id: string; readonly version: string };
  /** The Bedrock prompt enhancer; none when unset. */
  readonly bedrock?: { readonly modelId: string; readonly guardrail?: { readonly id: string; readonly version: string } };
}

export interface AwsBackendOptions {
  readonly clock?: Clock;
  /** Per-service endpoints that win over AWS_ENDPOINT_URL (tests: moto and the loopback fakes). */
  readonly endpoints?: Partial<Record<AwsService, string>>;
  /** SQS long-poll seconds (default 20). */
  readonly eventWaitSeconds?: number;
  /** How often progress.json of running jobs is read (default 5000 ms). */
  readonly progressPollMs?: number;
  /** SDK attempts per call including the first (default: the SDK's, 3). */
  readonly maxAttempts?: number;
  /**
   * Whether this process consumes the shared job-event queue (default true: the bot). A one-shot command passes
   * false: the queue's events belong to the bot, so the command learns how its own job ends by looking it up.
   */
  readonly consumeEvents?: boolean;
}

export interface AwsBackend {
  readonly store: DynamoJobStore;
  readonly objects: S3ObjectStore;
  /** Processing jobs, or (VIDEOBOT_AWS_RUNNER=async) the endpoints for videos and Processing jobs for a Combine. */
  readonly runner: SageMakerRunner | CombineRoutingRunner;
  /** Bedrock, when the settings name a model. */
  readonly enhancer: Enhancer | undefined;
  /** ApplyGuardrail on prompts, when a guardrail is configured. */
  readonly moderators: readonly Moderator[];
  readonly settings: ProcessingSettings;
  readonly clients: AwsClients;
  stageModel(preset: string, options?: StageModelOptions): Promise<StageModelResult>;
  close(): Promise<void>;
}

export function createAwsBackend(settings: AwsSettings, logger: Logger, options: AwsBackendOptions = {}): AwsBackend {
  const clients = createAwsClients({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(options.endpoints ? { endpoints: options.endpoints } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  });
  const clock = options.clock ?? { now: () => Date.now() };
  const store = new DynamoJobStore({ client: clients.dynamo, tableName: settings.jobTable, clock, ttlDays: settings.jobTtlDays });
  const objects = new S3ObjectStore({
    s3: clients.s3,
    inputBucket: settings.inputBucket,
    outputBucket: settings.outputBucket,
    ...(settings.kmsKeyId ? { kmsKeyId: settings.kmsKeyId } : {}),
  });
  const queue = {
    sqs: clients.sqs,
    queueUrl: settings.eventsQueueUrl,
    logger,
    ...(options.eventWaitSeconds !== undefined ? { waitSeconds: options.eventWaitSeconds } : {}),
  };
  const progressPoll = options.progressPollMs ? { progressPollMs: options.progressPollMs } : {};
  const processingRunner = (events: StateChangeSource): SageMakerRunner =>
    new SageMakerRunner({ sagemaker: clients.sagemaker, objects, events, settings: settings.processing, logger, ...progressPoll });
  let runner: SageMakerRunner | CombineRoutingRunner;
  if (settings.asyncEndpoints) {
    // Videos go to the GPU endpoints; a Combine stays a Processing job on the CPU instance (combine-router.ts).
    const queueEvents = options.consumeEvents === false ? { notifications: NO_EVENTS, stateChanges: NO_EVENTS } : splitQueue(new SqsEventConsumer<QueueEvent>({ ...queue, parse: parseQueueEvent }));
    const videos = new AsyncEndpointRunner({
      runtime: clients.sagemakerRuntime,
      s3: clients.s3,
      objects,
      events: queueEvents.notifications,
      settings: settings.asyncEndpoints,
      logger,
      ...progressPoll,
    });
    runner = new CombineRoutingRunner(videos, processingRunner(queueEvents.stateChanges));
  } else {
    runner = processingRunner(options.consumeEvents === false ? NO_EVENTS : new SqsEventConsumer(queue));
  }
  const enhancer = settings.bedrock
    ? new BedrockEnhancer({
        client: clients.bedrock,
        modelId: settings.bedrock.modelId,
        ...(settings.bedrock.guardrail ? { guardrail: settings.bedrock.guardrail } : {}),
      })
    : undefined;
  return {
    store,
    objects,
    runner,
    enhancer,
    moderators: settings.guardrail ? [new GuardrailModerator({ client: clients.bedrock, guardrail: settings.guardrail, logger })] : [],
    settings: settings.processing,
    clients,
    stageModel: (preset, stageOptions) => stageModel({ sagemaker: clients.sagemaker, settings: settings.processing }, preset, stageOptions),
    async close() {
      await runner.stop();
      clients.destroy();
    },
  };
}
