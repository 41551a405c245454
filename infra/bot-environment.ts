// The bot container's environment: the exact variable names bot/config.ts reads, in one place.
import { chatPlatform, type ChatPlatform } from './chat-platforms.js';
import type { SlackMode } from './config.js';

export { SLACK_HTTP_PORT } from './chat-platforms.js';
/** The bot's /healthz listener (bot/health.ts), used by the container and load-balancer health checks. */
export const HEALTH_PORT = 8080;
/** SAGEMAKER_MAX_RUNTIME_SECONDS of the deployed bot, also the most its IAM policy lets a job ask for. */
export const JOB_MAX_RUNTIME_SECONDS = 3600;

export interface BotEnvironmentProps {
  readonly region: string;
  readonly chat: readonly ChatPlatform[];
  readonly slackMode?: SlackMode;
  readonly allowedUsers: readonly string[];
  readonly allowedChannels: readonly string[];
  readonly admins: readonly string[];
  readonly logLevel: string;
  readonly inputBucket: string;
  readonly outputBucket: string;
  readonly modelCacheUri: string;
  readonly kmsKeyArn: string;
  readonly jobTable: string;
  readonly eventsQueueUrl: string;
  readonly sagemakerRoleArn: string;
  readonly sagemakerImageUri: string;
  readonly jobPrefix: string;
  readonly instanceType: string;
  readonly instanceTypes: readonly string[];
  readonly bedrockModelId?: string;
  readonly bedrockGuardrail?: { readonly id: string; readonly version: string };
}

/** Plain (non-secret) variables; credentials come separately as ECS secrets (see botSecretKeys). */
export function botEnvironment(p: BotEnvironmentProps): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: p.logLevel,
    VIDEOBOT_BACKEND: 'aws',
    VIDEOBOT_CHAT: p.chat.join(','),
    VIDEOBOT_HEALTH_PORT: String(HEALTH_PORT),
    VIDEOBOT_ALLOWED_USERS: p.allowedUsers.join(','),
    VIDEOBOT_ALLOWED_CHANNELS: p.allowedChannels.join(','),
    VIDEOBOT_ADMINS: p.admins.join(','),
    AWS_REGION: p.region,
    VIDEOBOT_INPUT_BUCKET: p.inputBucket,
    VIDEOBOT_OUTPUT_BUCKET: p.outputBucket,
    VIDEOBOT_MODEL_CACHE_URI: p.modelCacheUri,
    VIDEOBOT_KMS_KEY_ID: p.kmsKeyArn,
    VIDEOBOT_JOB_TABLE: p.jobTable,
    VIDEOBOT_EVENTS_QUEUE_URL: p.eventsQueueUrl,
    SAGEMAKER_ROLE_ARN: p.sagemakerRoleArn,
    SAGEMAKER_IMAGE_URI: p.sagemakerImageUri,
    SAGEMAKER_JOB_PREFIX: p.jobPrefix,
    SAGEMAKER_INSTANCE_TYPE: p.instanceType,
    SAGEMAKER_INSTANCE_TYPES: p.instanceTypes.join(','),
    SAGEMAKER_MAX_RUNTIME_SECONDS: String(JOB_MAX_RUNTIME_SECONDS),
    VIDEOBOT_ENHANCER: p.bedrockModelId ? 'bedrock' : 'off',
  };
  if (p.bedrockModelId) env.BEDROCK_MODEL_ID = p.bedrockModelId;
  if (p.bedrockGuardrail) {
    env.BEDROCK_GUARDRAIL_ID = p.bedrockGuardrail.id;
    env.BEDROCK_GUARDRAIL_VERSION = p.bedrockGuardrail.version;
  }
  for (const platform of p.chat) Object.assign(env, chatPlatform(platform).environment(choices(p.slackMode)));
  return env;
}

/** Per chosen platform: environment variable → JSON key of its secret (only what the chosen mode needs). */
export function botSecretKeys(chat: readonly ChatPlatform[], slackMode: SlackMode | undefined): [ChatPlatform, Record<string, string>][] {
  return chat.map((platform) => [platform, chatPlatform(platform).secretVariables(choices(slackMode))]);
}

function choices(slackMode: SlackMode | undefined) {
  return slackMode ? { slackMode } : {};
}
