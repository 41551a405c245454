// Moderation (bot/core/moderation.ts): whole-word, case- and accent-insensitive blocked terms, applied at intake before
// anything is posted or run, before enhancement and on the enhanced prompt; bans; refusals counted.
import { afterEach, describe, expect, it } from 'vitest';
import { BANNED_TEXT, REFUSED_TEXT, findBlockedTerm, normalizeTerm, words } from '../../bot/core/moderation.js';
import type { Moderator } from '../../bot/core/ports.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';
import { QuietChat } from '../support/recording-chat.js';

const alice = { platform: 'test' as const, userId: 'alice' };
const conversation = { platform: 'test' as const, channelId: 'C1' };

describe('blocked-term matching', () => {
  it('reads words case- and accent-insensitively, without punctuation', () => {
    expect(words('Crème BRÛLÉE, s’il-vous-plaît!')).toEqual(['creme', 'brulee', 's', 'il', 'vous', 'plait']);
    expect(normalizeTerm('  Red   Wine ')).toBe('red wine');
    expect(normalizeTerm('Façade')).toBe('facade');
  });

  it('matches whole words and whole phrases only', () => {
    const terms = ['cat', 'red wine', 'facade'];
    expect(findBlockedTerm('A CAT sat', terms)).toBe('cat');
    expect(findBlockedTerm('the cat.', terms)).toBe('cat');
    expect(findBlockedTerm('a catalog of cats', terms)).toBeUndefined();
    expect(findBlockedTerm('bobcat', terms)).toBeUndefined();
    expect(findBlockedTerm('Red, wine!', terms)).toBe('red wine');
    expect(findBlockedTerm('red whine', terms)).toBeUndefined();
    expect(findBlockedTerm('the old Façade', terms)).toBe('facade');
    expect(findBlockedTerm('ＣＡＴ', terms)).toBe('cat'); // full-width letters fold too (NFKD)
  });

  it('refuses a term with no letter or digit, and one over the length limit', () => {
    expect(() => normalizeTerm(' !! ')).toThrow(/at least one letter/);
    expect(() => normalizeTerm('x'.repeat(101))).toThrow(/at most 100/);
  });
});

describe('moderation in the job service', () => {
  let h: Harness;
  let chat: QuietChat;
  afterEach(async () => h?.close());

  async function setup(opts: Parameters<typeof createHarness>[1] = {}) {
    chat = new QuietChat();
    h = await createHarness([chat], { access: { maxJobsPerUser: 10 }, ...opts });
  }

  it('refuses a prompt with a blocked term privately, before anything is posted or run, and counts it', async () => {
    await setup();
    await h.store.addBlockedTerm('gore');
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'A lot of GORE, please' } })).rejects.toMatchObject({
      code: 'PROMPT_REFUSED',
      message: REFUSED_TEXT,
    });
    expect(chat.announced).toEqual([]);
    expect(await h.store.listByUser('test', 'alice', 10)).toEqual([]);
    expect(h.runner.submitted).toEqual([]);
    expect(await h.store.refusalCount()).toBe(1);
    expect((await h.store.standing(alice)).refusals).toBe(1);
    // Gorey is another word: allowed.
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'a gorey old house' } });
    expect(chat.announced).toHaveLength(1);
  });

  it('applies a change of the list to the next request, and to Edit prompt', async () => {
    await setup();
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a wasp' } });
    await h.store.addBlockedTerm('wasp');
    await expect(h.service.submit({ requester: alice, conversation, redo: { jobId: job.id } })).rejects.toMatchObject({ code: 'PROMPT_REFUSED' });
    await expect(h.service.submit({ requester: alice, conversation, redo: { jobId: job.id, prompt: 'two Wasps and a wasp' } })).rejects.toMatchObject({
      code: 'PROMPT_REFUSED',
    });
    await h.store.removeBlockedTerm('wasp');
    await h.service.submit({ requester: alice, conversation, redo: { jobId: job.id, prompt: 'two wasps and a wasp' } });
    expect(chat.announced).toHaveLength(2);
  });

  it('never sends a refused prompt to the enhancer (/enhance)', async () => {
    const asked: string[] = [];
    await setup({ enhancer: { name: 'fake', enhance: async (p) => (asked.push(p), `Cinematic ${p}`) } });
    await h.store.addBlockedTerm('gore');
    await expect(h.service.enhance('gore everywhere')).rejects.toMatchObject({ code: 'PROMPT_REFUSED' });
    expect(asked).toEqual([]);
    expect((await h.service.enhance('a bee')).text).toBe('Cinematic a bee');
  });

  it('refuses an enhanced prompt that has a blocked term: /enhance says so, a job runs on the prompt as typed', async () => {
    await setup({ enhancer: { name: 'fake', enhance: async (p) => `${p}, with gore` } });
    await h.store.addBlockedTerm('gore');
    await expect(h.service.enhance('a bee')).rejects.toMatchObject({ code: 'PROMPT_REFUSED' });
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee', enhance: true } });
    const submitted = await eventually(() => h.runner.submitted.find((j) => j.id === job.id), 5000, 'the job to reach the runner');
    expect(submitted.params.prompt).toBe('a bee');
    expect(await h.store.refusalCount()).toBe(2);
  });

  it('runs other moderators after the list, and shows a moderator\'s own message', async () => {
    const seen: string[] = [];
    const guardrail: Moderator = {
      name: 'guardrail',
      check: async (text, context) => {
        seen.push(`${context.stage}:${text}`);
        return /violence/.test(text) ? { allowed: false, reason: 'CONTENT_POLICY', message: 'Your workspace does not allow this topic.' } : { allowed: true };
      },
    };
    await setup({ moderators: [guardrail] });
    await h.store.addBlockedTerm('gore');
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'gore' } })).rejects.toMatchObject({ message: REFUSED_TEXT });
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'violence' } })).rejects.toMatchObject({
      code: 'PROMPT_REFUSED',
      message: 'Your workspace does not allow this topic.',
    });
    // The list refused "gore" first: the guardrail was not asked.
    expect(seen).toEqual(['prompt:violence']);
    expect(chat.announced).toEqual([]);
  });

  it('refuses a banned person before anything else, and lets them in again when unbanned', async () => {
    await setup();
    await h.store.setBanned(alice, true);
    await expect(h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } })).rejects.toMatchObject({ code: 'NOT_ALLOWED', message: BANNED_TEXT });
    expect(chat.announced).toEqual([]);
    await h.store.setBanned(alice, false);
    await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
    expect(chat.announced).toHaveLength(1);
  });
});
