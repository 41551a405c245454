// The infra side of the platform registry: one row per deployable platform, matched against the bot's rows.
import { describe, expect, it } from 'vitest';
import { CHAT_PLATFORMS } from '../../bot/chat/registry.js';
import { loadConfig } from '../../bot/config.js';
import { DEPLOYED_CHAT_IDS, chatPlatform, type ChatChoices } from '../../infra/chat-platforms.js';

/** Every deployment choice a platform's variables depend on. */
const CHOICES: ChatChoices[] = [{}, { slackMode: 'socket' }, { slackMode: 'http' }];

describe('deployed chat platforms', () => {
  it('are platforms the bot has a row for', () => {
    for (const id of DEPLOYED_CHAT_IDS) expect(Object.keys(CHAT_PLATFORMS), id).toContain(id);
  });

  it('give the bot every setting its row requires, in every mode, from keys their secret holds', () => {
    for (const id of DEPLOYED_CHAT_IDS) {
      const row = chatPlatform(id);
      for (const choices of CHOICES) {
        const secretVariables = row.secretVariables(choices);
        expect(row.secret.keys, `${id} ${JSON.stringify(choices)}`).toEqual(expect.arrayContaining(Object.values(secretVariables)));
        const env = { ...row.environment(choices), ...Object.fromEntries(Object.keys(secretVariables).map((name) => [name, 'from-secrets-manager'])) };
        const config = loadConfig({ VIDEOBOT_CHAT: id, ...env });
        const required = CHAT_PLATFORMS[id].requires(config).flatMap((r) => r.names);
        expect(Object.keys(env), `${id} ${JSON.stringify(choices)}`).toEqual(expect.arrayContaining(required));
      }
    }
  });
});
