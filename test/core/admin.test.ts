// Admin commands (bot/core/admin.ts) through JobService.admin: parsing, who may use them, and what they change.
import { afterEach, describe, expect, it } from 'vitest';
import { parseAdminCommand, parseUserRef } from '../../bot/core/admin.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';
import { QuietChat } from '../support/recording-chat.js';

const boss = { platform: 'test' as const, userId: 'boss' };
const alice = { platform: 'test' as const, userId: 'alice' };
const conversation = { platform: 'test' as const, channelId: 'C1' };

describe('parseAdminCommand', () => {
  it('reads every command, with Slack and Discord mentions and plain ids', () => {
    expect(parseAdminCommand('block add Red  Wine', 'slack')).toEqual({ kind: 'block-add', term: 'Red Wine' });
    expect(parseAdminCommand('BLOCK remove gore', 'slack')).toEqual({ kind: 'block-remove', term: 'gore' });
    expect(parseAdminCommand('block list', 'slack')).toEqual({ kind: 'block-list' });
    expect(parseAdminCommand('usage <@U123|Ada Lovelace>', 'slack')).toEqual({ kind: 'usage', user: { platform: 'slack', userId: 'U123' } });
    expect(parseAdminCommand('reset <@!4567>', 'discord')).toEqual({ kind: 'reset', user: { platform: 'discord', userId: '4567' } });
    expect(parseAdminCommand('ban @U9', 'slack')).toEqual({ kind: 'ban', user: { platform: 'slack', userId: 'U9' } });
    expect(parseAdminCommand('unban discord:42', 'slack')).toEqual({ kind: 'unban', user: { platform: 'discord', userId: '42' } });
    expect(parseAdminCommand('', 'shell')).toEqual({ kind: 'help' });
  });

  it('says what is wrong in one sentence', () => {
    expect(() => parseAdminCommand('block add', 'slack')).toThrow(/Which term\?/);
    expect(() => parseAdminCommand('block erase x', 'slack')).toThrow(/Unknown `\/admin block erase`/);
    expect(() => parseAdminCommand('usage', 'slack')).toThrow(/Whose\?/);
    expect(() => parseAdminCommand('ban a b', 'slack')).toThrow(/one person/);
    expect(() => parseAdminCommand('launch', 'slack')).toThrow(/Unknown admin command "launch"/);
    expect(() => parseUserRef('<#C1|general>', 'slack')).toThrow(/not a person/);
  });
});

describe('JobService.admin', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  async function setup(access: Record<string, unknown> = {}) {
    h = await createHarness([new QuietChat()], { access: { admins: ['test:boss'], maxJobsPerUser: 5, ...access } });
  }
  const admin = (text: string, by = boss) => h.service.admin(by, parseAdminCommand(text, by.platform));

  it('refuses people who are not admins, and changes nothing', async () => {
    await setup();
    await expect(admin('block add gore', alice)).rejects.toMatchObject({ code: 'NOT_ALLOWED', message: 'Only admins can use the admin commands.' });
    await expect(admin('ban boss', alice)).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    expect(await h.store.blockedTerms()).toEqual([]);
  });

  it('adds, lists and removes blocked terms, normalised, with the refusal count', async () => {
    await setup();
    expect(await admin('block add Crème Brûlée')).toBe('Blocked "creme brulee": prompts containing it are refused from now on.');
    expect(await admin('block add CREME brulee')).toBe('"creme brulee" was already blocked.');
    await admin('block add gore');
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'crème brûlée on fire' } })).rejects.toMatchObject({ code: 'PROMPT_REFUSED' });
    expect(await admin('block list')).toBe('Blocked terms (2): "creme brulee", "gore"\nPrompts refused by moderation so far: 1.');
    expect(await admin('block remove Gore')).toBe('"gore" is no longer blocked.');
    expect(await admin('block remove gore')).toMatch(/was not on the list/);
    await expect(admin('block add ???')).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
  });

  it('shows a person\'s usage, and a reset lets them make videos again under the daily quota', async () => {
    await setup({ dailyQuota: 1 });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
    await eventually(() => h.runner.submitted.length === 1, 5000, 'the job to start');
    await h.runner.complete(job.id);
    await eventually(async () => (await h.store.get(job.id))?.state === 'delivered', 5000, 'delivery');
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'again' } })).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect(await admin('usage alice')).toBe(
      'test:alice: 1 of 1 videos in the last 24 hours; 0 in progress (at most 5 at a time).\nPrompts refused: 0. Not banned.',
    );
    h.clock.advance(60_000);
    expect(await admin('reset alice')).toMatch(/^Reset test:alice's daily quota/);
    expect(await admin('usage alice')).toMatch(/^test:alice: 0 of 1 videos since the reset at 2026-11-21 12:01 UTC; 0 in progress/);
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'again' } });
  });

  it('bans and unbans; an admin cannot be banned', async () => {
    await setup();
    expect(await admin('ban <@alice>')).toMatch(/^test:alice can no longer make videos/);
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } })).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    expect(await admin('usage alice')).toMatch(/Banned: may not make videos\.$/);
    expect(await admin('unban alice')).toBe('test:alice can make videos again.');
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
    await expect(admin('ban boss')).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
  });
});
