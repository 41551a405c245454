// Wires the AWS backend (DynamoDB, S3, SageMaker + SQS events, Bedrock) from config; bot/main.ts calls this once.
import type { Config } from '../config.js';
import type { Clock, Enhancer, Logger } from '../core/ports.js';
import { BedrockEnhancer } from './bedrock.js';
import { createAwsClients, type AwsClients, type AwsService } from './clients.js';
import { DynamoJobStore } from './dynamodb.js';
import { SqsEventConsumer } from './events.js';
import { stageModel, type StageModelOptions, type StageModelResult } from './model-cache.js';
import { S3ObjectStore } from './s3.js';
import { SageMakerRunner, processingSettingsFromConfig, type ProcessingSettings, type StateChangeSource } from './sagemaker.js';

/** For processes that do not consume the event queue: they never receive a state change. */
const NO_EVENTS: StateChangeSource = { start: () => {}, stop: async () => {} };

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
  readonly runner: SageMakerRunner;
  /** Bedrock, unless VIDEOBOT_ENHANCER is `off` or `openai`. */
  readonly enhancer: Enhancer | undefined;
  readonly settings: ProcessingSettings;
  readonly clients: AwsClients;
  stageModel(preset: string, options?: StageModelOptions): Promise<StageModelResult>;
  close(): Promise<void>;
}

export function createAwsBackend(config: Config, logger: Logger, options: AwsBackendOptions = {}): AwsBackend {
  const need = (name: keyof Config): string => {
    const v = config[name];
    if (typeof v !== 'string' || !v) throw new Error(`the AWS backend needs ${name}`);
    return v;
  };
  const clients = createAwsClients({
    region: need('AWS_REGION'),
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    ...(options.endpoints ? { endpoints: options.endpoints } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  });
  const clock = options.clock ?? { now: () => Date.now() };
  const settings = processingSettingsFromConfig(config);
  const store = new DynamoJobStore({ client: clients.dynamo, tableName: need('VIDEOBOT_JOB_TABLE'), clock, ttlDays: config.VIDEOBOT_JOB_TTL_DAYS });
  const objects = new S3ObjectStore({
    s3: clients.s3,
    inputBucket: need('VIDEOBOT_INPUT_BUCKET'),
    outputBucket: need('VIDEOBOT_OUTPUT_BUCKET'),
    ...(config.VIDEOBOT_KMS_KEY_ID ? { kmsKeyId: config.VIDEOBOT_KMS_KEY_ID } : {}),
  });
  const events: StateChangeSource = options.consumeEvents === false ? NO_EVENTS : new SqsEventConsumer({
    sqs: clients.sqs,
    queueUrl: need('VIDEOBOT_EVENTS_QUEUE_URL'),
    logger,
    ...(options.eventWaitSeconds !== undefined ? { waitSeconds: options.eventWaitSeconds } : {}),
  });
  const runner = new SageMakerRunner({
    sagemaker: clients.sagemaker,
    objects,
    events,
    settings,
    logger,
    ...(options.progressPollMs ? { progressPollMs: options.progressPollMs } : {}),
  });
  const useBedrock = config.VIDEOBOT_ENHANCER === 'bedrock' || config.VIDEOBOT_ENHANCER === 'auto';
  const enhancer = useBedrock
    ? new BedrockEnhancer({
        client: clients.bedrock,
        modelId: config.BEDROCK_MODEL_ID,
        ...(config.BEDROCK_GUARDRAIL_ID
          ? { guardrail: { id: config.BEDROCK_GUARDRAIL_ID, version: config.BEDROCK_GUARDRAIL_VERSION ?? 'DRAFT' } }
          : {}),
      })
    : undefined;
  return {
    store,
    objects,
    runner,
    enhancer,
    settings,
    clients,
    stageModel: (preset, stageOptions) => stageModel({ sagemaker: clients.sagemaker, settings }, preset, stageOptions),
    async close() {
      await runner.stop();
      clients.destroy();
    },
  };
}
