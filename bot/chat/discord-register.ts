// `npm run discord:register`: registers /video, /enhance and "Animate with videobot" (guild if DISCORD_GUILD_ID is set, else global).
// A thin entry: like bot/main.ts it reads the environment (over .env, if present) once, through loadConfig.
import { parse } from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { registerCommands } from './discord/register.js';

const dotenvFile = resolve('.env');
const config = loadConfig({ ...(existsSync(dotenvFile) ? parse(readFileSync(dotenvFile)) : {}), ...process.env });
if (!config.DISCORD_TOKEN) {
  console.error('Set DISCORD_TOKEN (the bot token from the Developer Portal, Bot page) to register commands.');
  process.exit(1);
}
const result = await registerCommands({
  token: config.DISCORD_TOKEN,
  ...(config.DISCORD_APPLICATION_ID ? { applicationId: config.DISCORD_APPLICATION_ID } : {}),
  ...(config.DISCORD_GUILD_ID ? { guildId: config.DISCORD_GUILD_ID } : {}),
  ...(config.DISCORD_API_URL ? { apiUrl: config.DISCORD_API_URL } : {}),
});
console.log(`Registered ${result.names.map((n) => `"${n}"`).join(', ')} (${result.scope}).`);
if (!config.DISCORD_GUILD_ID) console.log('Global commands can take up to an hour to appear; set DISCORD_GUILD_ID for instant updates while testing.');
