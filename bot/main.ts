// Entry point: reads config once, builds the real adapters, and runs the bot or a one-shot command.
import { parse as parseDotenv } from 'dotenv';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { execFileSync } from 'node:child_process';
// The AWS backend and the Discord SDK are imported when a config or command needs them (await import below): a local bot
// on the terminal chat starts without loading discord.js, Bolt or the AWS SDK (~1.5 s; test/startup-imports.test.ts).
import type { AwsSettings } from './aws/backend.js';
import { parseInstanceTypes, processingInstanceTypeProblem } from './aws/instance-types.js';
import { createChats } from './chat/registry.js';
import { EXIT, EXIT_CODE_HELP, cancelAbandonedCommandJobs, commandSurface, processIo, runGenerate, type CommandBackend, type CommandIo } from './cli.js';
import { AWS_REQUIRED, ConfigError, loadConfig, requiredSettings, type Config } from './config.js';
import type { ChatSurface, Enhancer, JobStore, Logger, Moderator, ObjectStore, Runner, SettingsStore } from './core/ports.js';
import type { JobScope, QueueLease } from './core/scope.js';
import { TEST_PRESET_ID, getPreset } from './core/presets.js';
import { createJobService, type JobService } from './core/service.js';
import { startHealthServer } from './health.js';
import { FsObjectStore } from './local/files.js';
import { OpenAiEnhancer } from './local/openai-enhancer.js';
import { ProcessingUnavailableError, probeDevice, refuseGpuModels } from './local/probe.js';
import { createLocalQueueLease } from './local/queue-lease.js';
import { LocalRunner } from './local/runner.js';
import { SqliteJobStore } from './local/sqlite.js';
import { randomIds, systemClock } from './local/system.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Backend extends CommandBackend {
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly runner: Runner;
  readonly enhancer?: Enhancer;
  readonly defaultModel: string;
  readonly notices: string[];
  /** Refuses models this machine cannot run (no GPU); see local/probe.ts. */
  readonly checkModel?: (model: string) => void;
  /** The local GPU queue's lease: the bot and `videobot generate` runs take turns on one data folder. */
  readonly lease?: QueueLease;
  /** The person at this machine's terminal: an admin of a bot on their own machine (no quota, no per-user limit). */
  readonly localAdmins: readonly string[];
  /** Blocked terms, bans and quota resets (beside the jobs); moderators after the blocked-terms list (a Bedrock guardrail). */
  readonly settingsStore: SettingsStore;
  readonly moderators?: readonly Moderator[];
  close(): Promise<void>;
}

/** The machine is not set up to run this (data folder, Python job): one sentence, exit code 3. */
export class SetupError extends Error {
  readonly code = 'NOT_READY';
}

const USAGE = `Usage:
  videobot                      start the bot (chat platforms from VIDEOBOT_CHAT; default: this terminal)
  videobot generate "<prompt>" [--model M] [--seed N] [--frames N | --seconds S] [--steps N]
                   [--guidance G] [--negative "text"] [--enhance] [--image PATH] [--fit crop|pad] [--size WxH]
                                make one video; progress on stderr, the MP4 path as the last line of stdout
  videobot generate --extend JOB ["new prompt"]
                                continue a finished video from its last frame; the joined MP4's path last on stdout
  videobot models stage PRESET [PRESET…] [--cpu | --instance-type TYPE]
                                AWS backend: copy a preset's weights from Hugging Face into the S3 model cache
                                (a one-off SageMaker job that may use the internet; generation jobs never do), on
                                the preset's GPU instance type, which also saves its compile cache there;
                                --cpu: weights only, on a CPU instance; --instance-type: for another GPU type
  videobot discord register     register the Discord slash commands (guild if DISCORD_GUILD_ID is set)
  videobot help                 this text
Configuration: environment variables or a .env file (see README.md).

${EXIT_CODE_HELP}`;

/** Reads .env (if present) under the real environment, which wins. */
function environment(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const file = resolve('.env');
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file)) : {};
  return { ...fromFile, ...env };
}

/** Logs to a file are written synchronously: a command exits as soon as it is done, and no line may be lost. */
function createLogger(config: Config, toFile: string | undefined): pino.Logger {
  if (toFile) {
    mkdirSync(dirname(toFile), { recursive: true });
    return pino({ level: config.LOG_LEVEL }, pino.destination({ dest: toFile, mkdir: true, sync: true }));
  }
  if (process.stdout.isTTY) {
    return pino({ level: config.LOG_LEVEL, transport: { target: 'pino-pretty', options: { destination: 2 } } });
  }
  return pino({ level: config.LOG_LEVEL });
}

/** The person running this process (the terminal chat's and the command's user). */
function localUser(): string {
  try {
    return userInfo().username || 'you';
  } catch {
    return 'you'; // no passwd entry (some containers)
  }
}

/** The data folder must be a folder this process can write; says in one sentence what is wrong. */
function prepareDataDir(config: Config): string {
  const dir = resolve(config.VIDEOBOT_DATA_DIR);
  try {
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false) {
      throw new SetupError(`VIDEOBOT_DATA_DIR is ${dir}, which is a file, not a folder: point VIDEOBOT_DATA_DIR at a folder (it is created if missing).`);
    }
    mkdirSync(dir, { recursive: true });
    accessSync(dir, fsConstants.W_OK);
  } catch (err) {
    if (err instanceof SetupError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'part of that path is a file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? (err as Error).message);
    throw new SetupError(`The data folder ${dir} (VIDEOBOT_DATA_DIR) cannot be created or written (${why}): point VIDEOBOT_DATA_DIR at a folder you can write.`);
  }
  return dir;
}

/** VIDEOBOT_PYTHON must be an executable file; the probe (or the first job) finds out whether it is the right Python. */
function checkPython(python: string): void {
  const kind = statSync(python, { throwIfNoEntry: false });
  const fix = 'run `npm run setup` to install the processing job, or point VIDEOBOT_PYTHON at a Python that has processing/requirements.txt installed';
  if (!kind) throw new SetupError(`VIDEOBOT_PYTHON is ${python}, which does not exist: ${fix}.`);
  try {
    if (!kind.isFile()) throw new Error('not a file');
    accessSync(python, fsConstants.X_OK);
  } catch {
    throw new SetupError(`VIDEOBOT_PYTHON is ${python}, which is not an executable file: ${fix}.`);
  }
}

/** The Python a local bot runs the processing job with: VIDEOBOT_PYTHON, relative to the repository (default its .venv). */
export function localPython(config: Config): string {
  return resolve(REPO_ROOT, config.VIDEOBOT_PYTHON);
}

async function buildLocalBackend(config: Config, logger: Logger, env: Record<string, string | undefined>): Promise<Backend> {
  const dataDir = resolve(config.VIDEOBOT_DATA_DIR);
  const python = localPython(config);
  checkPython(python);
  const childEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const store = new SqliteJobStore(join(dataDir, 'videobot.db'), systemClock);
  const objects = new FsObjectStore(join(dataDir, 'objects'));
  const notices: string[] = [];
  let defaultModel = config.VIDEOBOT_DEFAULT_MODEL;
  let device = config.VIDEOBOT_DEVICE;
  let noGpu = device === 'cpu' ? 'VIDEOBOT_DEVICE=cpu keeps this bot off the GPU' : undefined;
  if (defaultModel !== TEST_PRESET_ID || device !== 'cpu') {
    const probe = await probeDevice(python, REPO_ROOT, { PATH: env.PATH ?? '' });
    if (!probe.cuda) {
      noGpu ??= 'this machine has none';
      if (defaultModel !== TEST_PRESET_ID) {
        notices.push(
          `No NVIDIA GPU found on this machine, so videos use the "${TEST_PRESET_ID}" test model: it runs on the CPU in seconds but makes random noise, not real video. ` +
            `On a machine with a CUDA GPU the default is ${getPreset(defaultModel)?.label ?? defaultModel}.`,
        );
        defaultModel = TEST_PRESET_ID;
      }
      device = 'cpu';
    } else {
      notices.push(`GPU: ${probe.deviceName} (${probe.freeGib?.toFixed(0)} of ${probe.totalGib?.toFixed(0)} GiB free). Default model: ${getPreset(defaultModel)?.label}.`);
    }
  }
  const runner = new LocalRunner({
    python,
    cwd: REPO_ROOT,
    inputDir: (id) => objects.inputDir(id),
    outputDir: (id) => objects.outputDir(id),
    modelsDir: resolve(config.VIDEOBOT_MODELS_DIR),
    allowDownload: config.VIDEOBOT_ALLOW_DOWNLOAD,
    device,
    concurrency: config.VIDEOBOT_MAX_CONCURRENT_JOBS,
    timeoutMs: config.VIDEOBOT_JOB_TIMEOUT_SECONDS * 1000,
    logger,
    env: childEnv,
    residentWorker: config.VIDEOBOT_RESIDENT_WORKER,
  });
  return {
    store,
    objects,
    runner,
    ...enhancerFor(config),
    defaultModel,
    notices,
    ...(noGpu ? { checkModel: refuseGpuModels(noGpu) } : {}),
    lease: createLocalQueueLease(store),
    localAdmins: [`shell:${localUser()}`, `cli:${localUser()}`],
    settingsStore: store,
    close: async () => store.close(),
  };
}

function enhancerFor(config: Config): { enhancer?: Enhancer } {
  const wanted = config.VIDEOBOT_ENHANCER;
  if (wanted === 'off') return {};
  if ((wanted === 'openai' || wanted === 'auto') && config.OPENAI_BASE_URL && config.OPENAI_MODEL) {
    return {
      enhancer: new OpenAiEnhancer({
        baseUrl: config.OPENAI_BASE_URL,
        model: config.OPENAI_MODEL,
        ...(config.OPENAI_API_KEY ? { apiKey: config.OPENAI_API_KEY } : {}),
      }),
    };
  }
  if (wanted === 'openai') throw new ConfigError('Invalid configuration: VIDEOBOT_ENHANCER=openai needs OPENAI_BASE_URL and OPENAI_MODEL.');
  return {};
}

/** The AWS backend's settings from the parsed config (loadConfig has refused a config that lacks one). */
export function awsSettings(config: Config): AwsSettings {
  const required = requiredSettings(config, 'the AWS backend', AWS_REQUIRED);
  const bedrock = config.VIDEOBOT_ENHANCER === 'bedrock' || config.VIDEOBOT_ENHANCER === 'auto';
  return {
    region: required.AWS_REGION,
    ...(config.AWS_ENDPOINT_URL ? { endpoint: config.AWS_ENDPOINT_URL } : {}),
    jobTable: required.VIDEOBOT_JOB_TABLE,
    jobTtlDays: config.VIDEOBOT_JOB_TTL_DAYS,
    inputBucket: required.VIDEOBOT_INPUT_BUCKET,
    outputBucket: required.VIDEOBOT_OUTPUT_BUCKET,
    ...(config.VIDEOBOT_KMS_KEY_ID ? { kmsKeyId: config.VIDEOBOT_KMS_KEY_ID } : {}),
    eventsQueueUrl: required.VIDEOBOT_EVENTS_QUEUE_URL,
    processing: {
      jobPrefix: config.SAGEMAKER_JOB_PREFIX,
      roleArn: required.SAGEMAKER_ROLE_ARN,
      imageUri: required.SAGEMAKER_IMAGE_URI,
      modelCacheUri: required.VIDEOBOT_MODEL_CACHE_URI,
      instanceType: config.SAGEMAKER_INSTANCE_TYPE,
      instanceTypes: parseInstanceTypes(config.SAGEMAKER_INSTANCE_TYPES),
      volumeGb: config.SAGEMAKER_VOLUME_GB,
      maxRuntimeSeconds: config.SAGEMAKER_MAX_RUNTIME_SECONDS,
      subnets: config.SAGEMAKER_SUBNETS,
      securityGroups: config.SAGEMAKER_SECURITY_GROUPS,
      ...(config.VIDEOBOT_KMS_KEY_ID ? { kmsKeyId: config.VIDEOBOT_KMS_KEY_ID } : {}),
    },
    ...(config.VIDEOBOT_AWS_RUNNER === 'async'
      ? {
          asyncEndpoints: {
            endpoints: Object.fromEntries(config.VIDEOBOT_ASYNC_ENDPOINTS.map((pair) => pair.split('=').map((s) => s.trim()) as [string, string])),
            requestTtlSeconds: config.VIDEOBOT_ASYNC_REQUEST_TTL_SECONDS,
            invocationTimeoutSeconds: config.VIDEOBOT_ASYNC_INVOCATION_TIMEOUT_SECONDS,
            ...(config.VIDEOBOT_KMS_KEY_ID ? { kmsKeyId: config.VIDEOBOT_KMS_KEY_ID } : {}),
          },
        }
      : {}),
    ...(config.BEDROCK_GUARDRAIL_ID ? { guardrail: { id: config.BEDROCK_GUARDRAIL_ID, version: config.BEDROCK_GUARDRAIL_VERSION ?? 'DRAFT' } } : {}),
    ...(bedrock
      ? {
          bedrock: {
            modelId: config.BEDROCK_MODEL_ID,
            ...(config.BEDROCK_GUARDRAIL_ID ? { guardrail: { id: config.BEDROCK_GUARDRAIL_ID, version: config.BEDROCK_GUARDRAIL_VERSION ?? 'DRAFT' } } : {}),
          },
        }
      : {}),
  };
}

/** `role`: the bot consumes the AWS job-event queue; a one-shot command leaves it to the bot and looks its job up. */
async function buildBackend(config: Config, logger: Logger, env: Record<string, string | undefined>, role: 'bot' | 'command'): Promise<Backend> {
  if (config.VIDEOBOT_BACKEND === 'local') return buildLocalBackend(config, logger, env);
  const [{ createAwsBackend }, { idleGpuNotes }] = await Promise.all([import('./aws/backend.js'), import('./aws/instance-gpus.js')]);
  const aws = createAwsBackend(awsSettings(config), logger, { consumeEvents: role === 'bot' });
  const enhancer = enhancerFor(config).enhancer ?? aws.enhancer;
  return {
    store: aws.store,
    objects: aws.objects,
    runner: aws.runner,
    ...(enhancer ? { enhancer } : {}),
    defaultModel: config.VIDEOBOT_DEFAULT_MODEL,
    notices: idleGpuNotes(config.SAGEMAKER_INSTANCE_TYPE, config.SAGEMAKER_INSTANCE_TYPES),
    localAdmins: [],
    settingsStore: aws.store,
    moderators: aws.moderators,
    close: () => aws.close(),
  };
}

/** ffmpeg for re-encoding oversize videos: VIDEOBOT_FFMPEG, else imageio-ffmpeg's from .venv, else none. */
function findFfmpeg(config: Config): string | undefined {
  if (config.VIDEOBOT_FFMPEG) return config.VIDEOBOT_FFMPEG;
  try {
    const python = localPython(config);
    return execFileSync(python, ['-c', 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())'], { encoding: 'utf8', timeout: 30_000 }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A command reconciles its own job this often: on AWS that is how it learns the job ended (the events are the bot's). */
const COMMAND_RECONCILE_MS = 3000;

function buildService(config: Config, backend: Backend, surfaces: ChatSurface[], logger: Logger, scope?: JobScope): JobService {
  const command = scope?.owns !== undefined;
  return createJobService({
    store: backend.store,
    objects: backend.objects,
    runner: backend.runner,
    ...(backend.enhancer ? { enhancer: backend.enhancer } : {}),
    chats: surfaces,
    clock: systemClock,
    ids: randomIds,
    logger,
    defaultModel: backend.defaultModel,
    access: {
      allowedUsers: config.VIDEOBOT_ALLOWED_USERS,
      allowedChannels: config.VIDEOBOT_ALLOWED_CHANNELS,
      admins: [...config.VIDEOBOT_ADMINS, ...backend.localAdmins],
      maxJobsPerUser: config.VIDEOBOT_MAX_JOBS_PER_USER,
      dailyQuota: config.VIDEOBOT_DAILY_QUOTA,
    },
    limits: {
      maxConcurrentJobs: config.VIDEOBOT_MAX_CONCURRENT_JOBS,
      maxAttempts: config.VIDEOBOT_MAX_ATTEMPTS,
      maxExtensions: config.VIDEOBOT_MAX_EXTENSIONS,
      reconcileIntervalMs: config.VIDEOBOT_RECONCILE_SECONDS * 1000,
      ...(command ? { reconcileIntervalMs: COMMAND_RECONCILE_MS, quietAfterMs: COMMAND_RECONCILE_MS } : {}),
    },
    presignTtlSeconds: config.VIDEOBOT_PRESIGN_TTL_SECONDS,
    ...(backend.checkModel ? { checkModel: backend.checkModel } : {}),
    settings: backend.settingsStore,
    ...(backend.moderators ? { moderators: backend.moderators } : {}),
    ...(scope ? { scope: scope.lease ? { ...scope, queuePollMs: config.VIDEOBOT_QUEUE_POLL_MS } : scope } : {}),
  });
}

async function runBot(config: Config, env: Record<string, string | undefined>): Promise<number> {
  const shell = config.VIDEOBOT_CHAT.includes('shell');
  const logger = createLogger(config, shell ? join(resolve(config.VIDEOBOT_DATA_DIR), 'videobot.log') : undefined);
  const backend = await buildBackend(config, logger, env, 'bot');
  let resolveExit: (code: number) => void = () => {};
  const exited = new Promise<number>((r) => (resolveExit = r));
  const chats = await createChats(config, { logger, notices: backend.notices, onExit: () => resolveExit(0), localUser: localUser(), ffmpeg: () => findFfmpeg(config) });
  if (!shell) for (const notice of backend.notices) logger.info(notice);
  // Jobs of `videobot generate` runs on this store are finished here too when this bot runs the queue: see commandSurface.
  const service = buildService(config, backend, [...chats.map((c) => c.surface), commandSurface], logger, backend.lease ? { lease: backend.lease } : undefined);
  const health = config.VIDEOBOT_HEALTH_PORT !== undefined ? await startHealthServer(config.VIDEOBOT_HEALTH_PORT, logger) : undefined;
  await service.start();
  if (backend.lease) {
    const abandoned = await cancelAbandonedCommandJobs(backend.store, service);
    if (abandoned.length > 0) logger.info({ jobs: abandoned }, 'cancelled jobs of `videobot generate` runs that are gone');
  }
  for (const chat of chats) await chat.start(service);
  health?.ready();
  logger.info({ chat: config.VIDEOBOT_CHAT, backend: config.VIDEOBOT_BACKEND, defaultModel: backend.defaultModel }, 'videobot started');
  const onSignal = (signal: string) => {
    logger.info({ signal }, 'stopping');
    resolveExit(0);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const code = await exited;
  for (const chat of chats) await chat.stop().catch((err: unknown) => logger.warn({ err }, 'chat stop failed'));
  await service.stop();
  await health?.close();
  await backend.close();
  logger.flush?.();
  return code;
}

/** `npm run discord:register`: /video, /enhance and "Animate with videobot"; guild if DISCORD_GUILD_ID is set, else global. */
async function registerDiscord(config: Config, io: Pick<CommandIo, 'stdout' | 'stderr'>): Promise<number> {
  if (!config.DISCORD_TOKEN) {
    io.stderr.write('Set DISCORD_TOKEN (the bot token from the Developer Portal, Bot page) to register commands.\n');
    return 2;
  }
  const { registerCommands } = await import('./chat/discord/register.js');
  const result = await registerCommands({
    token: config.DISCORD_TOKEN,
    ...(config.DISCORD_APPLICATION_ID ? { applicationId: config.DISCORD_APPLICATION_ID } : {}),
    ...(config.DISCORD_GUILD_ID ? { guildId: config.DISCORD_GUILD_ID } : {}),
    ...(config.DISCORD_API_URL ? { apiUrl: config.DISCORD_API_URL } : {}),
  });
  io.stdout.write(`Registered ${result.names.map((n) => `"${n}"`).join(', ')} (${result.scope}).\n`);
  if (!config.DISCORD_GUILD_ID) io.stdout.write('Global commands can take up to an hour to appear; set DISCORD_GUILD_ID for instant updates while testing.\n');
  return 0;
}

async function stageModels(config: Config, args: readonly string[], io: Pick<CommandIo, 'stdout' | 'stderr'>): Promise<number> {
  if (config.VIDEOBOT_BACKEND !== 'aws') {
    io.stderr.write('`videobot models stage` fills the S3 model cache, so it needs VIDEOBOT_BACKEND=aws. Locally, put the weights in VIDEOBOT_MODELS_DIR/<preset>/ or set VIDEOBOT_ALLOW_DOWNLOAD=true.\n');
    return 2;
  }
  const parsed = stageArguments(args);
  if ('problem' in parsed) {
    io.stderr.write(`${parsed.problem}\n`);
    return 2;
  }
  const { presets, options } = parsed;
  if (presets.length === 0) {
    io.stderr.write('Which model? e.g. `videobot models stage cogvideox-5b`\n');
    return 2;
  }
  if (options.instanceType) {
    const problem = processingInstanceTypeProblem(options.instanceType, '--instance-type');
    if (problem) {
      io.stderr.write(`${problem}\n`);
      return 2;
    }
  }
  const logger = createLogger(config, undefined);
  const { createAwsBackend } = await import('./aws/backend.js');
  const aws = createAwsBackend(awsSettings(config), logger);
  try {
    for (const preset of presets) {
      const result = await aws.stageModel(preset, options);
      io.stdout.write(
        result.staged
          ? `${preset}: staging job ${result.jobName} started on ${result.instanceType}; weights go to ${result.destination}\n`
          : `${preset}: nothing to stage (${result.reason})\n`,
      );
    }
    return 0;
  } finally {
    await aws.close();
  }
}

/** `models stage` arguments: presets, then at most one of --cpu and --instance-type TYPE (a type Processing offers). */
function stageArguments(args: readonly string[]): { presets: string[]; options: { onCpu?: boolean; instanceType?: string } } | { problem: string } {
  const presets: string[] = [];
  const options: { onCpu?: boolean; instanceType?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--cpu') options.onCpu = true;
    else if (arg === '--instance-type' || arg.startsWith('--instance-type=')) {
      const type = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[++i];
      if (!type) return { problem: '--instance-type needs a type, e.g. --instance-type ml.g6e.2xlarge' };
      options.instanceType = type;
    } else if (arg.startsWith('-')) return { problem: `unknown option ${arg}; models stage takes --cpu or --instance-type TYPE` };
    else presets.push(arg);
  }
  if (options.onCpu && options.instanceType) return { problem: 'choose one of --cpu and --instance-type' };
  return { presets, options };
}

export async function main(argv: readonly string[], rawEnv: NodeJS.ProcessEnv, io: CommandIo = processIo()): Promise<number> {
  const env = environment(rawEnv);
  const [command = 'start', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n`);
    return EXIT.BAD_INPUT;
  }
  try {
    if (command === 'start') {
      prepareDataDir(config);
      return await runBot(config, env);
    }
    if (command === 'generate') {
      const logger = createLogger(config, join(prepareDataDir(config), 'videobot.log'));
      return await runGenerate(rest, {
        stdout: io.stdout,
        stderr: io.stderr,
        signals: io.signals,
        requester: { platform: 'cli', userId: localUser() },
        buildBackend: () => buildBackend(config, logger, env, 'command'),
        buildService: (backend, surface, scope) => buildService(config, backend, [surface], logger, scope),
      });
    }
    if (command === 'models' && rest[0] === 'stage') return await stageModels(config, rest.slice(1), io);
    if (command === 'discord' && rest[0] === 'register') return await registerDiscord(config, io);
    io.stderr.write(`Unknown command "${command}".\n${USAGE}\n`);
    return EXIT.BAD_INPUT;
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT.BAD_INPUT;
    }
    if (err instanceof SetupError || err instanceof ProcessingUnavailableError) {
      io.stderr.write(`${err.message}\n`);
      return EXIT.NOT_READY;
    }
    // A bug: say so in one line, with the stack for the report.
    io.stderr.write(`videobot stopped on an unexpected error: ${(err as Error).message}\n${(err as Error).stack ?? ''}\n`);
    return EXIT.INTERNAL;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main(process.argv.slice(2), process.env).then((code) => process.exit(code));
}
