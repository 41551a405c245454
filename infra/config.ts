// The CDK app's settings: one zod schema over the raw context values that infra/app.ts collects.
import { z } from 'zod';
import { DEPLOYED_CHAT_IDS, type ChatPlatform } from './chat-platforms.js';
import { presetInstanceTypeProblems, processingInstanceTypeProblem } from '../bot/aws/instance-types.js';
import { PRESET_IDS } from '../bot/core/presets.js';

/** A comma-separated string (as `-c key=a,b` gives) or a JSON array (as cdk.json may hold). */
const list = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean));
const days = (fallback: number) => z.coerce.number().int().min(1).max(3650).default(fallback);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** The same rule as the bot's SAGEMAKER_JOB_PREFIX (bot/config.ts): job names are `<prefix>-<job id>`. */
const JOB_PREFIX = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,19}$/;

/** The same check as the bot's SAGEMAKER_INSTANCE_TYPE: a type SageMaker offers for Processing jobs. */
const processingInstanceType = z
  .string()
  .trim()
  .superRefine((type, ctx) => {
    const problem = processingInstanceTypeProblem(type);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** `preset=ml.type` pairs (the bot's SAGEMAKER_INSTANCE_TYPES): a known preset and a type Processing offers. */
const presetInstanceTypes = list.superRefine((pairs, ctx) => {
  for (const message of presetInstanceTypeProblems(pairs)) ctx.addIssue({ code: 'custom', message });
});

export const contextSchema = z
  .object({
    /** Names the two stacks (`<stackPrefix>Stateful`, `<stackPrefix>Service`), so one account can hold a dev and a prod copy. */
    stackPrefix: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,30}$/).default('Videobot'),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/),
    /** Optional: pins the stacks to one account. Leave unset for an environment-agnostic template. */
    account: z.string().regex(/^\d{12}$/).optional(),
    /** Availability zones for the VPC when `account` is set (else the AZs come from Fn::GetAZs). */
    azs: list.default([]),

    chat: list.pipe(z.array(z.enum(DEPLOYED_CHAT_IDS)).min(1)).default(['slack']),
    slackMode: z.enum(['socket', 'http']).default('socket'),
    certificateArn: optionalString,
    allowedUsers: list.default([]),
    allowedChannels: list.default([]),
    admins: list.default([]),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),

    jobPrefix: z.string().regex(JOB_PREFIX, '1-20 letters, digits or inner dashes (SAGEMAKER_JOB_PREFIX)').default('videobot'),
    instanceType: processingInstanceType.default('ml.g6e.2xlarge'),
    /** Per-preset overrides, "cogvideox1.5-5b=ml.p5.4xlarge,cogvideox-2b=ml.g6.2xlarge". */
    instanceTypes: presetInstanceTypes.default([]),
    /**
     * The GPU runner: `processing` (a SageMaker Processing job per video, the default) or `async` (a SageMaker
     * Asynchronous Inference endpoint per preset in asyncPresets, the model kept loaded; docs/aws.md).
     */
    runner: z.enum(['processing', 'async']).default('processing'),
    /** The presets an asynchronous endpoint serves (runner=async), one endpoint each, on the preset's instance type. */
    asyncPresets: list
      .pipe(z.array(z.string()).min(1))
      .superRefine((presets, ctx) => {
        for (const preset of presets.filter((p) => !PRESET_IDS.includes(p))) {
          ctx.addIssue({ code: 'custom', message: `unknown preset "${preset}"; presets: ${PRESET_IDS.join(', ')}` });
        }
      })
      .default(['cogvideox-5b']),
    /** The most instances one endpoint scales out to (it scales in to zero when idle). */
    asyncMaxInstances: z.coerce.number().int().min(1).max(20).default(1),

    enhancer: z.enum(['bedrock', 'off']).default('bedrock'),
    /** Default: Claude Sonnet 4.5 through the inference profile of the deployment Region's geography. */
    bedrockModelId: z.string().min(1).optional(),
    bedrockGuardrailId: optionalString,
    bedrockGuardrailVersion: optionalString,

    inputRetentionDays: days(7),
    outputRetentionDays: days(30),
    noncurrentVersionDays: days(1),
    accessLogRetentionDays: days(90),
    logRetentionDays: days(30),

    alarmEmail: z.email().optional(),
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  })
  .superRefine((c, ctx) => {
    if (c.chat.includes('slack') && c.slackMode === 'http' && !c.certificateArn) {
      ctx.addIssue({ code: 'custom', path: ['certificateArn'], message: 'slackMode=http needs an ACM certificate ARN for the HTTPS listener' });
    }
    if (c.certificateArn && !/^arn:aws[a-z-]*:acm:/.test(c.certificateArn)) {
      ctx.addIssue({ code: 'custom', path: ['certificateArn'], message: 'must be an ACM certificate ARN' });
    }
    if (c.bedrockGuardrailId && !c.bedrockGuardrailVersion) {
      ctx.addIssue({ code: 'custom', path: ['bedrockGuardrailVersion'], message: 'a guardrail needs its version too' });
    }
    if (c.azs.length === 1) {
      ctx.addIssue({ code: 'custom', path: ['azs'], message: 'name two availability zones (or none)' });
    }
  });

export type { ChatPlatform } from './chat-platforms.js';
export type SlackMode = 'socket' | 'http';

/** Everything the stacks need, typed; built once by parseAppConfig and handed down as props. */
export interface AppConfig {
  readonly stackPrefix: string;
  readonly env: { readonly region: string; readonly account?: string };
  readonly availabilityZones: readonly string[];
  readonly retainData: boolean;

  readonly chat: readonly ChatPlatform[];
  /** Undefined when Slack is not among the chat platforms. */
  readonly slackMode?: SlackMode;
  readonly certificateArn?: string;
  readonly allowedUsers: readonly string[];
  readonly allowedChannels: readonly string[];
  readonly admins: readonly string[];
  readonly logLevel: string;

  readonly jobPrefix: string;
  readonly instanceType: string;
  readonly instanceTypes: readonly string[];
  /** Set when the bot runs videos on asynchronous endpoints instead of Processing jobs. */
  readonly asyncEndpoints?: { readonly presets: readonly string[]; readonly maxInstances: number };
  readonly bedrock?: { readonly modelId: string };
  /** A Bedrock guardrail screens every prompt (ApplyGuardrail), whichever enhancer runs, or none. */
  readonly guardrail?: { readonly id: string; readonly version: string };

  readonly retention: {
    readonly inputDays: number;
    readonly outputDays: number;
    readonly noncurrentVersionDays: number;
    readonly accessLogDays: number;
    readonly logDays: number;
  };
  readonly alarmEmail?: string;

  /** Docker build contexts: the bot (the repository root, with its Dockerfile) and the processing job. */
  readonly botImageDirectory: string;
  readonly processingImageDirectory: string;
}

export class InfraConfigError extends Error {
  readonly code = 'INFRA_CONFIG_INVALID';
}

/**
 * Validates raw context values (strings from `-c key=value`, or JSON from cdk.json) and returns typed props.
 * Throws InfraConfigError naming every wrong key.
 */
export function parseAppConfig(
  context: Record<string, unknown>,
  directories: { readonly botImageDirectory: string; readonly processingImageDirectory: string },
): AppConfig {
  const result = contextSchema.safeParse(context);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `-c ${String(i.path[0] ?? '?')}: ${i.message}`);
    throw new InfraConfigError(`Invalid CDK context:\n  ${lines.join('\n  ')}`);
  }
  const c = result.data;
  const slack = c.chat.includes('slack');
  return {
    stackPrefix: c.stackPrefix,
    env: { region: c.region, ...(c.account ? { account: c.account } : {}) },
    availabilityZones: c.azs,
    retainData: c.removalPolicy === 'retain',
    chat: [...new Set(c.chat)],
    ...(slack ? { slackMode: c.slackMode } : {}),
    ...(slack && c.slackMode === 'http' && c.certificateArn ? { certificateArn: c.certificateArn } : {}),
    allowedUsers: c.allowedUsers,
    allowedChannels: c.allowedChannels,
    admins: c.admins,
    logLevel: c.logLevel,
    jobPrefix: c.jobPrefix,
    instanceType: c.instanceType,
    instanceTypes: c.instanceTypes,
    ...(c.runner === 'async' ? { asyncEndpoints: { presets: [...new Set(c.asyncPresets)], maxInstances: c.asyncMaxInstances } } : {}),
    ...(c.enhancer === 'bedrock' ? { bedrock: { modelId: c.bedrockModelId ?? defaultBedrockModel(c.region) } } : {}),
    ...(c.bedrockGuardrailId && c.bedrockGuardrailVersion
      ? { guardrail: { id: c.bedrockGuardrailId, version: c.bedrockGuardrailVersion } }
      : {}),
    retention: {
      inputDays: c.inputRetentionDays,
      outputDays: c.outputRetentionDays,
      noncurrentVersionDays: c.noncurrentVersionDays,
      accessLogDays: c.accessLogRetentionDays,
      logDays: c.logRetentionDays,
    },
    ...(c.alarmEmail ? { alarmEmail: c.alarmEmail } : {}),
    botImageDirectory: directories.botImageDirectory,
    processingImageDirectory: directories.processingImageDirectory,
  };
}

const CLAUDE_SONNET = 'anthropic.claude-sonnet-4-5-20250929-v1:0';

/**
 * A cross-Region inference profile is only callable from Regions of its geography, so the bot's own
 * default (`us.` + Claude) would fail in Europe: pick the US or EU profile by Region, else the global one.
 * Any other model or profile: `-c bedrockModelId=...`.
 */
export function defaultBedrockModel(region: string): string {
  if (region.startsWith('us-')) return `us.${CLAUDE_SONNET}`;
  if (region.startsWith('eu-')) return `eu.${CLAUDE_SONNET}`;
  return `global.${CLAUDE_SONNET}`;
}
