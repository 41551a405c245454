// The platform registry: VIDEOBOT_CHAT's names, each platform's required settings and its adapter come from one row.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHAT_PLATFORMS, CHAT_PLATFORM_IDS, createChats, type ChatContext } from '../../bot/chat/registry.js';
import { ConfigError, loadConfig } from '../../bot/config.js';
import { testLogger } from '../support/harness.js';

function context(): ChatContext & { ffmpegLookups: number } {
  const ctx = {
    logger: testLogger(),
    notices: [],
    onExit: () => {},
    localUser: 'me',
    ffmpegLookups: 0,
    ffmpeg: () => {
      ctx.ffmpegLookups += 1;
      return undefined;
    },
  };
  return ctx;
}

describe('chat platform registry', () => {
  it('names exactly the platforms VIDEOBOT_CHAT accepts', () => {
    expect(CHAT_PLATFORM_IDS).toEqual(['shell', 'slack', 'discord']);
    expect(() => loadConfig({ VIDEOBOT_CHAT: 'irc' })).toThrow(/VIDEOBOT_CHAT: .*"shell"\|"slack"\|"discord"/);
  });

  it("refuses at start-up a chosen platform whose row's required settings are missing, mode by mode", () => {
    expect(CHAT_PLATFORMS.slack.requires(loadConfig({})).map((r) => r.what)).toEqual(['Slack', 'Slack Socket Mode']);
    expect(CHAT_PLATFORMS.slack.requires(loadConfig({ SLACK_MODE: 'http' })).map((r) => r.what)).toEqual(['Slack', 'Slack HTTP mode']);
    expect(() => loadConfig({ VIDEOBOT_CHAT: 'shell,discord' })).toThrow(new ConfigError('Invalid configuration: Discord needs DISCORD_TOKEN to be set.'));
    expect(() => loadConfig({ VIDEOBOT_CHAT: 'slack', SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/Slack Socket Mode needs SLACK_APP_TOKEN/);
    expect(() => loadConfig({ VIDEOBOT_CHAT: 'shell' })).not.toThrow();
  });

  it('builds the chosen adapters in VIDEOBOT_CHAT order, without connecting, and looks for ffmpeg only for Discord', async () => {
    const config = loadConfig({ VIDEOBOT_CHAT: 'discord,slack', DISCORD_TOKEN: 'discord-token', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' });
    const ctx = context();
    const chats = await createChats(config, ctx);
    expect(chats.map((c) => c.surface.platform)).toEqual(['discord', 'slack']);
    expect(ctx.ffmpegLookups).toBe(1);
    for (const chat of chats) await chat.stop();

    const slackOnly = context();
    const [slack] = await createChats(loadConfig({ VIDEOBOT_CHAT: 'slack', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_MODE: 'http', SLACK_SIGNING_SECRET: 's' }), slackOnly);
    expect(slack!.surface.platform).toBe('slack');
    expect(slackOnly.ffmpegLookups).toBe(0);
    await slack!.stop();
  });

  it('loads no chat SDK itself: bot/config.ts reads it, and a bot loads only the SDKs of the platforms it runs', () => {
    const source = readFileSync(fileURLToPath(new URL('../../bot/chat/registry.ts', import.meta.url)), 'utf8');
    const valueImports = source.split('\n').filter((line) => /^import (?!type )/.test(line));
    expect(valueImports).toEqual([]);
  });
});
