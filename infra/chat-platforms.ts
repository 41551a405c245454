// The chat platforms a deployed bot can use, one row each: its credentials secret and the bot variables it fills.
// The bot's side is bot/chat/registry.ts; docs/platforms.md lists everything a new platform touches.
import type { SlackMode } from './config.js';

/** The deployment choices a platform's variables depend on. */
export interface ChatChoices {
  /** Set when Slack is among the platforms. */
  readonly slackMode?: SlackMode;
}

export interface DeployedChatPlatform {
  /** The Secrets Manager secret the operator fills in after deploy (docs/deploy.md). */
  readonly secret: {
    /**
     * Names the construct (`<name>`), its pinned logical id (`<name>Secret`) and the stateful stack's output
     * (`<name>SecretArn`). Never rename it: CloudFormation would replace the secret and its value.
     */
    readonly name: string;
    readonly description: string;
    /** The JSON keys of the secret, created empty. */
    readonly keys: readonly string[];
  };
  /**
   * Bot variable → JSON key of the secret, for these choices: only what the chosen mode needs, so a key the
   * operator left out of an unused mode cannot stop the task from starting. ECS injects them as secrets.
   */
  secretVariables(choices: ChatChoices): Record<string, string>;
  /** Plain (non-secret) bot variables for these choices. */
  environment(choices: ChatChoices): Record<string, string>;
}

/** The port Bolt's HTTP receiver listens on in Slack HTTP mode (bot/config.ts SLACK_PORT default). */
export const SLACK_HTTP_PORT = 3000;

/** Every deployable platform, by its name in `-c chat=` (and in the bot's VIDEOBOT_CHAT). */
export const DEPLOYED_CHAT_PLATFORMS = {
  slack: {
    secret: { name: 'Slack', description: 'Slack app credentials for videobot', keys: ['botToken', 'appToken', 'signingSecret'] },
    secretVariables: ({ slackMode }): Record<string, string> =>
      slackMode === 'http' ? { SLACK_BOT_TOKEN: 'botToken', SLACK_SIGNING_SECRET: 'signingSecret' } : { SLACK_BOT_TOKEN: 'botToken', SLACK_APP_TOKEN: 'appToken' },
    environment: ({ slackMode }): Record<string, string> => (slackMode === 'http' ? { SLACK_MODE: 'http', SLACK_PORT: String(SLACK_HTTP_PORT) } : { SLACK_MODE: 'socket' }),
  },
  discord: {
    secret: { name: 'Discord', description: 'Discord bot credentials for videobot', keys: ['token', 'applicationId'] },
    secretVariables: (): Record<string, string> => ({ DISCORD_TOKEN: 'token', DISCORD_APPLICATION_ID: 'applicationId' }),
    environment: (): Record<string, string> => ({}),
  },
} as const satisfies Record<string, DeployedChatPlatform>;

export type ChatPlatform = keyof typeof DEPLOYED_CHAT_PLATFORMS;

export const DEPLOYED_CHAT_IDS = Object.keys(DEPLOYED_CHAT_PLATFORMS) as [ChatPlatform, ...ChatPlatform[]];

export function chatPlatform(id: ChatPlatform): DeployedChatPlatform {
  return DEPLOYED_CHAT_PLATFORMS[id];
}
