// The bot's whole configuration: one zod schema, read once from the environment at start.
import { z } from 'zod';
import { presetInstanceTypeProblems, processingInstanceTypeProblem } from './aws/instance-types.js';
import { CHAT_PLATFORMS, CHAT_PLATFORM_IDS } from './chat/registry.js';
import { PRESET_IDS } from './core/presets.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const optionalUrl = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
  .pipe(z.url().optional());

/** Every variable the bot reads, with its default. Names are the environment variable names. */
export const configSchema = z.object({
  // General
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  VIDEOBOT_DATA_DIR: z.string().default('./var'),
  VIDEOBOT_CHAT: list
    .default(['shell'])
    .pipe(z.array(z.enum(CHAT_PLATFORM_IDS)).min(1)),
  VIDEOBOT_BACKEND: z.enum(['local', 'aws']).default('local'),
  VIDEOBOT_DEFAULT_MODEL: z.enum(PRESET_IDS as [string, ...string[]]).default('cogvideox-5b'),
  VIDEOBOT_MAX_CONCURRENT_JOBS: int(1, 1000).default(1),
  VIDEOBOT_MAX_JOBS_PER_USER: int(1, 1000).default(2),
  VIDEOBOT_DAILY_QUOTA: int(0, 100000).default(20),
  VIDEOBOT_ALLOWED_USERS: list.default([]),
  VIDEOBOT_ALLOWED_CHANNELS: list.default([]),
  VIDEOBOT_ADMINS: list.default([]),
  VIDEOBOT_JOB_TIMEOUT_SECONDS: int(60, 86400).default(3600),
  VIDEOBOT_MAX_ATTEMPTS: int(1, 10).default(3),
  /** Extensions one video may have in a row (Extend); 0 turns Extend off. */
  VIDEOBOT_MAX_EXTENSIONS: int(0, 20).default(4),
  /** How often jobs on the GPU with no news for a few minutes are looked up with the runner (0: only at start). */
  VIDEOBOT_RECONCILE_SECONDS: int(0, 3600).default(60),
  VIDEOBOT_HEALTH_PORT: int(0, 65535).optional(),

  // Local backend
  VIDEOBOT_PYTHON: z.string().default('.venv/bin/python'),
  VIDEOBOT_MODELS_DIR: z.string().default('./var/models'),
  VIDEOBOT_ALLOW_DOWNLOAD: bool.default(false),
  VIDEOBOT_DEVICE: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
  /** Keep the model loaded between videos in resident workers (`python -m processing serve`); false: one process per video. */
  VIDEOBOT_RESIDENT_WORKER: bool.default(true),
  /**
   * How often the bot and each `videobot generate` look at the shared queue and renew its lease (core/scope.ts
   * DEFAULT_QUEUE_POLL_MS); the lease lasts 15 s, so at most 5 s. Tests shorten it; a job another process freed room
   * for waits up to this long.
   */
  VIDEOBOT_QUEUE_POLL_MS: int(50, 5000).default(1000),
  /** ffmpeg for shrinking videos over a chat's upload limit; default: the one imageio-ffmpeg ships in .venv, else `ffmpeg` on PATH. */
  VIDEOBOT_FFMPEG: optionalString,

  // Prompt enhancer
  VIDEOBOT_ENHANCER: z.enum(['auto', 'openai', 'bedrock', 'off']).default('auto'),
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_MODEL: optionalString,
  OPENAI_API_KEY: optionalString,
  BEDROCK_MODEL_ID: z.string().default('us.anthropic.claude-sonnet-4-5-20250929-v1:0'),
  BEDROCK_GUARDRAIL_ID: optionalString,
  BEDROCK_GUARDRAIL_VERSION: optionalString,

  // Slack
  SLACK_MODE: z.enum(['socket', 'http']).default('socket'),
  SLACK_BOT_TOKEN: optionalString,
  SLACK_APP_TOKEN: optionalString,
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_PORT: int(0, 65535).default(3000),
  SLACK_API_URL: optionalUrl,

  // Discord
  DISCORD_TOKEN: optionalString,
  DISCORD_APPLICATION_ID: optionalString,
  DISCORD_GUILD_ID: optionalString,
  DISCORD_API_URL: optionalUrl,

  // AWS backend
  AWS_REGION: optionalString,
  AWS_ENDPOINT_URL: optionalUrl,
  VIDEOBOT_INPUT_BUCKET: optionalString,
  VIDEOBOT_OUTPUT_BUCKET: optionalString,
  VIDEOBOT_MODEL_CACHE_URI: optionalString,
  VIDEOBOT_KMS_KEY_ID: optionalString,
  VIDEOBOT_JOB_TABLE: optionalString,
  VIDEOBOT_EVENTS_QUEUE_URL: optionalString,
  VIDEOBOT_JOB_TTL_DAYS: int(1, 3650).default(30),
  /** Download links for videos too big to post. Signed with the task role's session credentials, which last about 6 hours at most. */
  VIDEOBOT_PRESIGN_TTL_SECONDS: int(60, 604800).default(21600),
  SAGEMAKER_ROLE_ARN: optionalString,
  SAGEMAKER_IMAGE_URI: optionalString,
  SAGEMAKER_JOB_PREFIX: z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,19}$/).default('videobot'),
  /** Only types SageMaker offers for Processing jobs (bot/aws/instance-types.ts); docs/aws.md says what each preset needs. */
  SAGEMAKER_INSTANCE_TYPE: z.string().trim().default('ml.g6e.2xlarge').superRefine(processingInstanceType),
  /** Per-preset overrides, e.g. "cogvideox1.5-5b=ml.p5.4xlarge,cogvideox-2b=ml.g6.2xlarge". */
  SAGEMAKER_INSTANCE_TYPES: list.default([]).superRefine(presetInstanceTypes),
  SAGEMAKER_VOLUME_GB: int(1, 16384).default(100),
  SAGEMAKER_MAX_RUNTIME_SECONDS: int(60, 432000).default(3600),
  SAGEMAKER_SUBNETS: list.default([]),
  SAGEMAKER_SECURITY_GROUPS: list.default([]),
  /**
   * The AWS GPU runner: `processing` (a SageMaker Processing job per video) or `async` (the SageMaker Asynchronous
   * Inference endpoints in VIDEOBOT_ASYNC_ENDPOINTS, which keep the model loaded between videos; docs/aws.md).
   */
  VIDEOBOT_AWS_RUNNER: z.enum(['processing', 'async']).default('processing'),
  /** `preset=endpoint-name` pairs, e.g. "cogvideox-5b=VideobotService-cogvideox-5b" (the stack's AsyncEndpointNames). */
  VIDEOBOT_ASYNC_ENDPOINTS: list.default([]).superRefine(presetEndpoints),
  /** How long a video may wait in an endpoint's queue (a scale-out from zero included); InvokeEndpointAsync allows 60–21600. */
  VIDEOBOT_ASYNC_REQUEST_TTL_SECONDS: int(60, 21_600).default(3600),
  /** How long one video may run on an endpoint; InvokeEndpointAsync allows at most 3600. */
  VIDEOBOT_ASYNC_INVOCATION_TIMEOUT_SECONDS: int(1, 3600).default(3600),
});

export type Config = z.infer<typeof configSchema>;

function processingInstanceType(type: string, ctx: z.RefinementCtx): void {
  const problem = processingInstanceTypeProblem(type);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

function presetEndpoints(pairs: string[], ctx: z.RefinementCtx): void {
  for (const pair of pairs) {
    const [preset = '', endpoint = '', ...rest] = pair.split('=').map((s) => s.trim());
    if (!preset || !endpoint || rest.length > 0) ctx.addIssue({ code: 'custom', message: `expected preset=endpoint-name pairs; got "${pair}"` });
    else if (!PRESET_IDS.includes(preset)) ctx.addIssue({ code: 'custom', message: `unknown preset "${preset}"; presets: ${PRESET_IDS.join(', ')}` });
    else if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(endpoint)) ctx.addIssue({ code: 'custom', message: `"${endpoint}" is not a SageMaker endpoint name` });
  }
}

function presetInstanceTypes(pairs: string[], ctx: z.RefinementCtx): void {
  for (const message of presetInstanceTypeProblems(pairs)) ctx.addIssue({ code: 'custom', message });
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Parses the environment once. Throws ConfigError naming every wrong variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const got = env[name];
      return `${name}: ${issue.message}${got === undefined ? '' : ` (got "${redact(name, got)}")`}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const config = result.data;
  for (const id of config.VIDEOBOT_CHAT) {
    for (const { what, names } of CHAT_PLATFORMS[id].requires(config)) requiredSettings(config, what, names);
  }
  requireWhen(config, config.VIDEOBOT_BACKEND === 'aws', 'the AWS backend', AWS_REQUIRED);
  if (config.VIDEOBOT_BACKEND === 'aws' && config.VIDEOBOT_AWS_RUNNER === 'async' && config.VIDEOBOT_ASYNC_ENDPOINTS.length === 0) {
    throw new ConfigError('Invalid configuration: VIDEOBOT_AWS_RUNNER=async needs VIDEOBOT_ASYNC_ENDPOINTS (preset=endpoint-name pairs) to be set.');
  }
  return config;
}

/** What the AWS backend cannot start without; loadConfig refuses VIDEOBOT_BACKEND=aws while one is unset. */
export const AWS_REQUIRED = [
  'AWS_REGION',
  'VIDEOBOT_INPUT_BUCKET',
  'VIDEOBOT_OUTPUT_BUCKET',
  'VIDEOBOT_JOB_TABLE',
  'VIDEOBOT_EVENTS_QUEUE_URL',
  'SAGEMAKER_ROLE_ARN',
  'SAGEMAKER_IMAGE_URI',
  'VIDEOBOT_MODEL_CACHE_URI',
] as const satisfies readonly OptionalSetting[];

/** Settings that are optional in general but required by one part of the bot. */
export type OptionalSetting = { [K in keyof Config]-?: Config[K] extends string | undefined ? K : never }[keyof Config];

/**
 * The values of settings a part of the bot requires, typed as set; throws the same ConfigError as loadConfig
 * when one is missing. loadConfig calls it for every part that is switched on, so after loadConfig it only narrows.
 */
export function requiredSettings<K extends OptionalSetting>(config: Config, what: string, names: readonly K[]): { readonly [P in K]: string } {
  const missing = names.filter((n) => config[n] === undefined);
  if (missing.length > 0) throw new ConfigError(`Invalid configuration: ${what} needs ${missing.join(', ')} to be set.`);
  return Object.fromEntries(names.map((n) => [n, config[n]])) as unknown as { readonly [P in K]: string };
}

function requireWhen(config: Config, when: boolean, what: string, names: readonly OptionalSetting[]): void {
  if (when) requiredSettings(config, what, names);
}

function redact(name: string, value: string): string {
  return /TOKEN|SECRET|KEY/.test(name) && !name.endsWith('_ID') ? '***' : value;
}
