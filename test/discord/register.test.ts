import { afterEach, describe, expect, it } from 'vitest';
import { registerCommands } from '../../bot/chat/discord/register.js';
import { PRESET_IDS } from '../../bot/core/presets.js';
import { runCommand } from '../support/videobot.js';
import { FakeDiscord, TOKEN } from './fake-discord.js';

describe('Discord command registration', () => {
  let fake: FakeDiscord;
  afterEach(async () => fake?.close());

  it('registers /video, /enhance and the message command in a guild, looking up the application from the token', async () => {
    fake = await FakeDiscord.start();
    const result = await registerCommands({ token: TOKEN, guildId: fake.guildId, apiUrl: fake.apiUrl });
    expect(result).toEqual({ scope: `guild ${fake.guildId}`, names: ['video', 'enhance', 'combine', 'Animate with videobot', 'videos', 'admin'] });
    const put = fake.calls.find((c) => c.method === 'PUT')!;
    expect(put.path).toBe(`/applications/${fake.applicationId}/guilds/${fake.guildId}/commands`);
    const [video, enhance, , animate] = put.body;
    expect(video.options.map((o: { name: string }) => o.name)).toEqual(['prompt', 'image', 'model', 'seed', 'frames', 'steps', 'guidance', 'negative', 'enhance']);
    expect(video.options[0]).toMatchObject({ type: 3, required: true });
    expect(video.options[1]).toMatchObject({ type: 11 });
    expect(video.options[2].choices.map((c: { value: string }) => c.value)).toEqual([...PRESET_IDS]);
    expect(enhance.options[0]).toMatchObject({ name: 'prompt', type: 3, required: true });
    expect(animate).toMatchObject({ type: 3, name: 'Animate with videobot' });
  });

  it('`videobot discord register` (npm run discord:register) registers globally when DISCORD_GUILD_ID is unset', async () => {
    fake = await FakeDiscord.start();
    // `videobot discord register` in this process, through main as bin/videobot.mjs calls it.
    const { status, stdout } = await runCommand(['discord', 'register'], { PATH: process.env.PATH, DISCORD_TOKEN: TOKEN, DISCORD_APPLICATION_ID: fake.applicationId, DISCORD_API_URL: fake.apiUrl, VIDEOBOT_DATA_DIR: '/nonexistent' });
    expect(status).toBe(0);
    expect(stdout).toContain('Registered "video", "enhance", "combine", "Animate with videobot", "videos", "admin" (global).');
    expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual([`PUT /applications/${fake.applicationId}/commands`]);
    expect(fake.commands.get('global')).toHaveLength(6);
  });
});
