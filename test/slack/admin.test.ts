// Moderation, /videobot-admin and /videos against the loopback Slack, with the real Bolt app: every answer is
// ephemeral (the slash command's acknowledgement or a response_url reply), and a refused prompt posts nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_COMMAND, VIDEOS_COMMAND, VIDEOS_PAGE_ACTIONS } from '../../bot/chat/slack/admin.js';
import { REFUSED_TEXT } from '../../bot/core/moderation.js';
import { sampleJob } from '../support/fixtures.js';
import { eventually } from '../support/harness.js';
import { blockAction, slashCommand } from './payloads.js';
import { ALICE, BOB, buttonsOf, startWorld, type SlackWorld } from './setup.js';

const ADMIN = { user: 'U0ADMIN', channel: 'C0GENERAL' };

describe('Slack: moderation, admin commands and history', () => {
  let w: SlackWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  const ack = async (command: string, text: string, who = ALICE) => {
    const res = await w!.slack.form(slashCommand(command, text, who, w!.fake.responseUrl()));
    expect(res.status).toBe(200);
    return JSON.parse(res.body || '{}');
  };

  it('refuses a prompt with a blocked term in the acknowledgement only; nothing is posted or run', async () => {
    w = await startWorld({ service: { access: { admins: [`slack:${ADMIN.user}`] } } });
    expect(await ack(ADMIN_COMMAND, 'block add Gore', ADMIN)).toEqual({
      response_type: 'ephemeral',
      text: 'Blocked "gore": prompts containing it are refused from now on.',
    });
    expect(await ack('/video', 'so much gore --seed 3')).toEqual({ response_type: 'ephemeral', text: REFUSED_TEXT });
    expect(w.fake.callsTo('chat.postMessage')).toEqual([]);
    expect(w.h.runner.submitted).toEqual([]);
    expect((await ack(ADMIN_COMMAND, 'usage <@U0ALICE|alice>', ADMIN)).text).toMatch(/^slack:U0ALICE: .*\nPrompts refused: 1\. Not banned\.$/);
  });

  it('refuses /videobot-admin to someone who is not an admin, privately', async () => {
    w = await startWorld({ service: { access: { admins: [`slack:${ADMIN.user}`] } } });
    expect(await ack(ADMIN_COMMAND, 'ban <@U0BOB|bob>')).toEqual({ response_type: 'ephemeral', text: 'Only admins can use the admin commands.' });
    expect((await w.h.store.standing({ platform: 'slack', userId: BOB.user })).banned).toBe(false);
    // An admin's typo: one sentence, naming the command as Slack knows it.
    expect((await ack(ADMIN_COMMAND, 'block', ADMIN)).text).toBe('No terms are blocked.\nPrompts refused by moderation so far: 0.');
    expect((await ack(ADMIN_COMMAND, 'help', ADMIN)).text).toContain('block add <term>');
    expect((await ack(ADMIN_COMMAND, 'ban', ADMIN)).text).toBe('Whose? e.g. `/videobot-admin ban @name`.');
  });

  it('bans through Slack: the banned person\'s /video is refused privately', async () => {
    w = await startWorld({ service: { access: { admins: [`slack:${ADMIN.user}`] } } });
    expect((await ack(ADMIN_COMMAND, 'ban <@U0ALICE|alice>', ADMIN)).text).toMatch(/^slack:U0ALICE can no longer make videos/);
    expect((await ack('/video', 'a bee')).text).toBe('You cannot make videos with this bot right now. Ask an admin if you think this is a mistake.');
    expect(w.fake.callsTo('chat.postMessage')).toEqual([]);
  });

  it('/videos lists my videos privately, 10 a page, and the Older and Newer buttons page through them', async () => {
    w = await startWorld({ service: { access: { admins: [`slack:${ADMIN.user}`] } } });
    for (let i = 1; i <= 12; i++) {
      await w.h.store.create(
        sampleJob(`v${String(i).padStart(2, '0')}`, {
          state: 'delivered',
          requester: { platform: 'slack', userId: ALICE.user },
          conversation: { platform: 'slack', channelId: ALICE.channel },
          params: { ...sampleJob('x').params, prompt: `bee <${i}> & friends`, seed: 100 + i },
          createdAt: Date.UTC(2026, 10, 21, 12, i),
          finishedAt: Date.UTC(2026, 10, 21, 12, i),
        }),
      );
    }
    const first = await ack(VIDEOS_COMMAND, '');
    expect(first.response_type).toBe('ephemeral');
    expect(first.blocks).toHaveLength(1 + 10 + 1);
    expect(first.blocks[1].text.text).toBe(
      "*1.* bee &lt;12&gt; &amp; friends\ntiny-random (test model: random weights, outputs noise) · seed 112 · 2026-11-21 12:12 UTC · saved on the bot's machine · posted in <#C0GENERAL> · job `v12`",
    );
    expect(buttonsOf(first)).toEqual([VIDEOS_PAGE_ACTIONS.older]);
    const older = first.blocks.at(-1).elements[0];

    const responseUrl = w.fake.responseUrl('history');
    await w.slack.interactive(blockAction(older.action_id, older.value, ALICE, { ts: '1700000001.000001' }, responseUrl, { ephemeral: true }));
    const second = await eventually(() => w!.fake.responses.find((r) => r.id === 'history'), 5000, 'page 2');
    expect(second.body).toMatchObject({ response_type: 'ephemeral', replace_original: true });
    expect(second.body.blocks.slice(1, 3).map((b: any) => b.text.text.split('\n')[0])).toEqual(['*11.* bee &lt;2&gt; &amp; friends', '*12.* bee &lt;1&gt; &amp; friends']);
    expect(buttonsOf(second.body)).toEqual([VIDEOS_PAGE_ACTIONS.newer]);

    // Someone else replaying the button's value sees nothing of alice's.
    const bobsUrl = w.fake.responseUrl('bob');
    await w.slack.interactive(blockAction(older.action_id, older.value, BOB, { ts: '1700000001.000001' }, bobsUrl, { ephemeral: true }));
    const refused = await eventually(() => w!.fake.responses.find((r) => r.id === 'bob'), 5000, 'bob refused');
    expect(refused.body).toEqual({ response_type: 'ephemeral', replace_original: false, text: 'Only admins can see other people’s videos; `/videos` shows yours.' });

    // An admin may look: /videos @alice 2.
    const seen = await ack(VIDEOS_COMMAND, '<@U0ALICE|alice> 2', ADMIN);
    expect(seen.blocks[0].text.text).toBe('*Videos of <@U0ALICE>, page 2*');
    expect(await ack(VIDEOS_COMMAND, '', BOB)).toEqual({ response_type: 'ephemeral', text: 'No videos yet for <@U0BOB>. Make one with `/video a bee on a flower`.', blocks: expect.any(Array) });
  });
});
