// Extend and Combine in Discord against the loopback Discord: the Extend button on a delivered status message opens a
// modal pre-filled with the prompt (interaction response type 9); its submission starts the continuation; /combine.
import { afterEach, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../bot/chat/discord/commands.js';
import { eventually } from '../support/harness.js';
import { ALICE } from './fake-discord.js';
import { buttonIds, prompt, replyText, startWorld, startedJob, type DiscordWorld } from './setup.js';

describe('Discord: Extend and Combine', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  async function deliveredVideo(text: string) {
    const id = await w.fake.slashCommand('video', [prompt(text)]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(async () => (await w.h.store.get(jobId))?.state === 'starting', 5000, 'starting');
    await w.h.runner.complete(jobId);
    await eventually(() => buttonIds(status).includes(`vb:extend:${jobId}`), 5000, 'the Extend button');
    return { jobId, status };
  }

  it('Extend: a modal with the prompt, then the continuation of the clip', async () => {
    w = await startWorld();
    const { jobId, status } = await deliveredVideo('a fox in the snow');
    expect(buttonIds(status)).toEqual([`vb:regen:${jobId}`, `vb:edit:${jobId}`, `vb:extend:${jobId}`, `vb:details:${jobId}`]);

    const click = await w.fake.clickButton(status, `vb:extend:${jobId}`);
    await eventually(() => w.fake.callbackOf(click), 5000, 'modal');
    expect(w.fake.callbackOf(click)?.type).toBe(9);
    const modal = w.fake.modalOf(click);
    expect(modal).toMatchObject({ custom_id: `vb:extend-modal:${jobId}`, title: 'Extend video' });
    expect(modal.components[0].components[0]).toMatchObject({ custom_id: 'prompt', value: 'a fox in the snow', label: 'What happens next?' });

    const submit = await w.fake.submitModal(click, { prompt: 'the fox runs into the trees' });
    const started = await startedJob(w, submit);
    const extension = await w.h.service.get(started.jobId);
    expect(extension).toMatchObject({
      source: { kind: 'extend', parentId: jobId, extensions: 1 },
      params: { prompt: 'the fox runs into the trees', mode: 'i2v', parentVideo: 'parent.mp4' },
      requester: { platform: 'discord', userId: ALICE.id },
    });
    expect(await w.h.objects.getInput(started.jobId, 'parent.mp4')).toBeDefined();
  });

  it('/combine joins clips in order; a bad list gets one ephemeral sentence', async () => {
    w = await startWorld();
    const a = await deliveredVideo('one');
    const b = await deliveredVideo('two');
    const id = await w.fake.slashCommand('combine', [{ name: 'jobs', type: 3, value: `${b.jobId} ${a.jobId}` }]);
    const { jobId } = await startedJob(w, id);
    expect(await w.h.service.get(jobId)).toMatchObject({ source: { kind: 'combine', clipIds: [b.jobId, a.jobId] } });

    const bad = await w.fake.slashCommand('combine', [{ name: 'jobs', type: 3, value: `${a.jobId} nope` }]);
    expect(await replyText(w, bad)).toBe('There is no video job nope that you can combine here.');
    expect(w.fake.originalOf(bad)!.flags & 64).toBe(64);
  });

  it('registers /combine with an optional jobs option (left out: the channel\'s or thread\'s videos, combine-thread.test.ts)', () => {
    const combine = commandDefinitions().find((c) => c.name === 'combine') as { options: { name: string; required: boolean; type: number }[] };
    expect(combine.options).toEqual([expect.objectContaining({ name: 'jobs', type: 3, required: false })]);
  });
});
