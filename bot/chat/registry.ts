// The chat platforms the bot runs on, one row each: its name in VIDEOBOT_CHAT, the settings it cannot start
// without, and how its adapter is built. docs/platforms.md says what else a new platform touches.
import type { Config, OptionalSetting } from '../config.js';
import type { Logger } from '../core/ports.js';
import type { ChatAdapter } from './adapter.js';

/** A group of settings one mode of a platform needs, named in the start-up error ("Slack HTTP mode needs …"). */
export interface Requirement {
  readonly what: string;
  readonly names: readonly OptionalSetting[];
}

/** What bot/main.ts hands every platform's factory. */
export interface ChatContext {
  readonly logger: Logger;
  /** Start-up notices (no GPU, default model); the terminal chat shows them, the others leave them to the log. */
  readonly notices: readonly string[];
  /** The terminal chat's /quit: the bot stops. */
  readonly onExit: () => void;
  /** The person at this machine's terminal. */
  readonly localUser: string;
  /** ffmpeg for shrinking videos over an upload limit, if one is found (looked for only when asked). */
  readonly ffmpeg: () => string | undefined;
}

export interface ChatPlatform {
  /** Its name in VIDEOBOT_CHAT. */
  readonly id: string;
  /** The settings it needs with this config; loadConfig refuses a config that chooses it without them. */
  requires(config: Config): readonly Requirement[];
  /** Builds the adapter. Its SDK is loaded here, so a bot loads only the SDKs of the platforms it runs. */
  create(config: Config, context: ChatContext): Promise<ChatAdapter>;
}

const shell: ChatPlatform = {
  id: 'shell',
  requires: () => [],
  async create(_config, context) {
    const { createShellAdapter } = await import('./shell.js');
    return createShellAdapter({ input: process.stdin, output: process.stdout, userId: context.localUser, logger: context.logger, notices: context.notices, onExit: context.onExit });
  },
};

const slack: ChatPlatform = {
  id: 'slack',
  requires: (config) => [
    { what: 'Slack', names: ['SLACK_BOT_TOKEN'] },
    config.SLACK_MODE === 'http' ? { what: 'Slack HTTP mode', names: ['SLACK_SIGNING_SECRET'] } : { what: 'Slack Socket Mode', names: ['SLACK_APP_TOKEN'] },
  ],
  async create(config, context) {
    const { createSlackAdapter } = await import('./slack.js');
    return createSlackAdapter({
      botToken: config.SLACK_BOT_TOKEN,
      appToken: config.SLACK_APP_TOKEN,
      signingSecret: config.SLACK_SIGNING_SECRET,
      mode: config.SLACK_MODE,
      port: config.SLACK_PORT,
      apiUrl: config.SLACK_API_URL,
      logger: context.logger,
    });
  },
};

const discord: ChatPlatform = {
  id: 'discord',
  requires: () => [{ what: 'Discord', names: ['DISCORD_TOKEN'] }],
  async create(config, context) {
    const { createDiscordAdapter, createFfmpegShrinker } = await import('./discord.js');
    const ffmpeg = context.ffmpeg();
    if (!ffmpeg) context.logger.warn('no ffmpeg found: Discord videos over the upload limit will be posted as download links');
    return createDiscordAdapter({
      token: config.DISCORD_TOKEN!, // required above: loadConfig refuses a config without it
      ...(config.DISCORD_APPLICATION_ID ? { applicationId: config.DISCORD_APPLICATION_ID } : {}),
      ...(config.DISCORD_API_URL ? { apiUrl: config.DISCORD_API_URL } : {}),
      ...(ffmpeg ? { shrinker: createFfmpegShrinker({ ffmpegPath: ffmpeg }) } : {}),
      linkTtlSeconds: config.VIDEOBOT_PRESIGN_TTL_SECONDS,
      logger: context.logger,
    });
  },
};

/** Every platform, by its VIDEOBOT_CHAT name. A new platform is one row here (docs/platforms.md). */
export const CHAT_PLATFORMS = { shell, slack, discord } as const satisfies Record<string, ChatPlatform>;

export type ChatPlatformId = keyof typeof CHAT_PLATFORMS;

export const CHAT_PLATFORM_IDS = Object.keys(CHAT_PLATFORMS) as [ChatPlatformId, ...ChatPlatformId[]];

/** The adapters of the platforms this config chooses, in VIDEOBOT_CHAT order. */
export function createChats(config: Config, context: ChatContext): Promise<ChatAdapter[]> {
  return Promise.all(config.VIDEOBOT_CHAT.map((id) => CHAT_PLATFORMS[id].create(config, context)));
}
