// Moderation, /admin and /videos against the loopback Discord with the real discord.js client: answers are ephemeral
// (flag 64), a refused prompt posts nothing in the channel, and the Newer/Older buttons update the list in place.
import { afterEach, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../bot/chat/discord/commands.js';
import { REFUSED_TEXT } from '../../bot/core/moderation.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually } from '../support/harness.js';
import { ALICE, BOB } from './fake-discord.js';
import { postedIn, prompt, replyText, startWorld, type DiscordWorld } from './setup.js';

const EPHEMERAL = 64;
const SUBCOMMAND = 1;
const GROUP = 2;
const STRING = 3;
const USER = 6;

describe('Discord: moderation, /admin and /videos', () => {
  let w: DiscordWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  const admins = { access: { admins: [`discord:${ALICE.id}`] } };
  const answer = (id: string) => eventually(() => w!.fake.callbackOf(id), 5000, `the answer to ${id}`);
  const blockAdd = (term: string, user = ALICE) =>
    w!.fake.slashCommand('admin', [{ name: 'block', type: GROUP, options: [{ name: 'add', type: SUBCOMMAND, options: [{ name: 'term', type: STRING, value: term }] }] }], { user });

  it('declares /videos and /admin; /admin only for members who can manage the server by default', () => {
    const defs = commandDefinitions() as any[];
    const admin = defs.find((d) => d.name === 'admin');
    expect(admin.default_member_permissions).toBe('32');
    expect(admin.options.map((o: any) => `${o.name}:${o.type}`)).toEqual(['block:2', 'usage:1', 'reset:1', 'ban:1', 'unban:1']);
    expect(defs.find((d) => d.name === 'videos').options.map((o: any) => o.name)).toEqual(['page', 'user']);
  });

  it('refuses a prompt with a blocked term in the ephemeral reply; nothing is posted in the channel', async () => {
    w = await startWorld({}, admins);
    const added = await blockAdd('Gore');
    expect(await answer(added)).toMatchObject({ type: 4, data: { content: 'Blocked "gore": prompts containing it are refused from now on.', flags: EPHEMERAL } });
    const before = postedIn(w.fake, w.fake.channelId).length;
    const id = await w.fake.slashCommand('video', [prompt('rivers of GORE')], { user: BOB });
    expect(await replyText(w, id)).toBe(REFUSED_TEXT);
    expect(postedIn(w.fake, w.fake.channelId)).toHaveLength(before);
    expect(w.h.runner.submitted).toEqual([]);
    expect(await w.h.store.refusalCount()).toBe(1);
  });

  it('refuses /admin to someone who is not a bot admin, whatever their server permissions', async () => {
    w = await startWorld({}, admins);
    const id = await blockAdd('gore', BOB);
    expect(await answer(id)).toMatchObject({ type: 4, data: { content: 'Only admins can use the admin commands.', flags: EPHEMERAL } });
    expect(await w.h.store.blockedTerms()).toEqual([]);
  });

  it('bans a person named by a user option; their /video is refused privately', async () => {
    w = await startWorld({}, admins);
    const ban = await w.fake.slashCommand('admin', [{ name: 'ban', type: SUBCOMMAND, options: [{ name: 'user', type: USER, value: BOB.id }] }], { users: [BOB] });
    expect((await answer(ban)).data.content).toBe(`discord:${BOB.id} can no longer make videos. \`/admin unban\` lifts it; jobs already running finish.`);
    const id = await w.fake.slashCommand('video', [prompt('a bee')], { user: BOB });
    expect(await replyText(w, id)).toBe('You cannot make videos with this bot right now. Ask an admin if you think this is a mistake.');
    const usage = await w.fake.slashCommand('admin', [{ name: 'usage', type: SUBCOMMAND, options: [{ name: 'user', type: USER, value: BOB.id }] }], { users: [BOB] });
    expect((await answer(usage)).data.content).toMatch(/Banned: may not make videos\.$/);
  });

  it('/videos lists my videos privately with a link to each in the channel; Older and Newer update the list', async () => {
    w = await startWorld({}, admins);
    for (let i = 1; i <= 11; i++) {
      await w.h.store.create(
        sampleJob(`v${String(i).padStart(2, '0')}`, {
          state: 'delivered',
          requester: { platform: 'discord', userId: BOB.id },
          conversation: { platform: 'discord', channelId: w.fake.channelId, statusMessageId: `90${i}`, extra: { guildId: w.fake.guildId } },
          params: { ...sampleJob('x').params, prompt: `a *bee* number ${i}`, seed: 100 + i },
          createdAt: Date.UTC(2026, 10, 21, 12, i),
          finishedAt: Date.UTC(2026, 10, 21, 12, i),
        }),
      );
    }
    const id = await w.fake.slashCommand('videos', [], { user: BOB });
    const first = await answer(id);
    expect(first).toMatchObject({ type: 4, data: { content: `Videos of <@${BOB.id}>, page 1`, flags: EPHEMERAL, allowed_mentions: { parse: [] } } });
    const lines = first.data.embeds[0].description.split('\n\n');
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe(
      `**1.** a \\*bee\\* number 11\ntiny-random (test model: random weights, outputs noise) · seed 111 · <t:${Date.UTC(2026, 10, 21, 12, 11) / 1000}:f> · [In the channel](https://discord.com/channels/${w.fake.guildId}/${w.fake.channelId}/9011)`,
    );
    const older = first.data.components[0].components;
    expect(older.map((b: any) => b.label)).toEqual(['Older ▶']);

    const list = w.fake.originalOf(id)!;
    const click = await w.fake.clickButton(list, older[0].custom_id, { user: BOB });
    const second = await answer(click);
    expect(second.type).toBe(7);
    expect(second.data.embeds[0].description).toMatch(/^\*\*11\.\*\* a \\\*bee\\\* number 1\n/);
    expect(second.data.components[0].components.map((b: any) => b.label)).toEqual(['◀ Newer']);

    // Alice is an admin: /videos user:bob page:2.
    const look = await w.fake.slashCommand('videos', [{ name: 'page', type: 4, value: 2 }, { name: 'user', type: USER, value: BOB.id }], { users: [BOB] });
    expect((await answer(look)).data.content).toBe(`Videos of <@${BOB.id}>, page 2`);
  });

  it('does not show someone else\'s videos to a person who is not an admin', async () => {
    w = await startWorld({}, admins);
    const id = await w.fake.slashCommand('videos', [{ name: 'user', type: USER, value: ALICE.id }], { user: BOB, users: [ALICE] });
    expect(await answer(id)).toMatchObject({ data: { content: 'Only admins can see other people’s videos; `/videos` shows yours.', flags: EPHEMERAL } });
  });
});
