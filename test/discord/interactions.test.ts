import { afterEach, describe, expect, it } from 'vitest';
import type { Enhancer } from '../../bot/core/ports.js';
import { eventually } from '../support/harness.js';
import { ALICE, BOB } from './fake-discord.js';
import { buttonIds, prompt, replyText, startWorld, startedJob, type DiscordWorld } from './setup.js';

const PNG = Uint8Array.from(
  Buffer.from('89504e470d0a1a0a0000000d4948445200000002000000010806000000f478d4fa0000000d49444154789c63f8cfc0f01f0005000201a3e6e1a90000000049454e44ae426082', 'hex'),
);

function countingEnhancer(): Enhancer & { calls: string[] } {
  const calls: string[] = [];
  return { name: 'test', calls, enhance: async (p: string) => (calls.push(p), `${p}, golden hour, cinematic, take ${calls.length}`) };
}

describe('Discord interactions', () => {
  let w: DiscordWorld;
  afterEach(async () => w?.close());

  it('/enhance → Edit & generate opens a pre-filled modal and generates from the edited prompt', async () => {
    const enhancer = countingEnhancer();
    w = await startWorld({}, { enhancer });
    const id = await w.fake.slashCommand('enhance', [prompt('a fox')]);
    const enhanced = await eventually(() => w.fake.originalOf(id)?.embeds[0]?.description, 5000, 'enhanced reply');
    expect(enhanced).toBe('a fox, golden hour, cinematic, take 1');
    const message = w.fake.originalOf(id)!;
    expect(message.flags & 64).toBe(64);
    expect(buttonIds(message)).toEqual(['vb:enh-gen', 'vb:enh-edit', 'vb:enh-again']);

    const click = await w.fake.clickButton(message, 'vb:enh-edit');
    await eventually(() => w.fake.callbackOf(click), 5000, 'modal');
    const modal = w.fake.modalOf(click);
    expect(modal.components[0].components[0]).toMatchObject({ custom_id: 'prompt', value: enhanced });

    const submit = await w.fake.submitModal(click, { prompt: 'a fox in the snow, golden hour' });
    const { jobId, status } = await startedJob(w, submit);
    const job = await w.h.service.get(jobId);
    expect(job?.params.prompt).toBe('a fox in the snow, golden hour');
    expect(job?.requester).toMatchObject({ platform: 'discord', userId: ALICE.id });
    expect(job?.requestKey).toBe(`discord:${submit}`);
    expect(status.content).toContain('a fox in the snow, golden hour');
  });

  it('/enhance → Enhance again edits the same reply; Generate starts a job from the enhanced prompt', async () => {
    const enhancer = countingEnhancer();
    w = await startWorld({}, { enhancer });
    const id = await w.fake.slashCommand('enhance', [prompt('rain on a window')]);
    await eventually(() => w.fake.originalOf(id)?.embeds[0]?.description, 5000, 'enhanced reply');
    const message = w.fake.originalOf(id)!;
    const again = await w.fake.clickButton(message, 'vb:enh-again');
    await eventually(() => message.embeds[0]?.description?.endsWith('take 2'), 5000, 'second enhancement');
    expect(w.fake.callbackOf(again)?.type).toBe(6);
    expect(enhancer.calls).toEqual(['rain on a window', 'rain on a window']);

    const generate = await w.fake.clickButton(message, 'vb:enh-gen');
    const { jobId } = await startedJob(w, generate);
    expect((await w.h.service.get(jobId))?.params.prompt).toBe('rain on a window, golden hour, cinematic, take 2');
  });

  it('/enhance without an enhancer says how to set one up', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('enhance', [prompt('a fox')]);
    expect(await replyText(w, id)).toMatch(/^Prompt enhancement is not set up/);
  });

  it('refuses Cancel from someone else (ephemeral) and lets the requester cancel', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('a long one')]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => buttonIds(status).includes(`vb:cancel:${jobId}`), 5000, 'cancel button');

    const bobClick = await w.fake.clickButton(status, `vb:cancel:${jobId}`, { user: BOB });
    expect(await replyText(w, bobClick)).toBe('Only the person who asked for this video, or an admin, can cancel it.');
    expect(w.fake.originalOf(bobClick)!.flags & 64).toBe(64);
    expect((await w.h.service.get(jobId))?.state).not.toBe('cancelled');

    const aliceClick = await w.fake.clickButton(status, `vb:cancel:${jobId}`, { user: ALICE });
    expect(await replyText(w, aliceClick)).toBe(`Cancelled job ${jobId}.`);
    await eventually(() => status.content.includes('Cancelled'), 5000, 'cancelled status');
    expect((await w.h.service.get(jobId))?.state).toBe('cancelled');
  });

  it('Details answers ephemerally; Regenerate makes a new job with a new seed; Edit prompt keeps the seed', async () => {
    w = await startWorld();
    const id = await w.fake.slashCommand('video', [prompt('a lighthouse'), { name: 'seed', type: 4, value: 7 }]);
    const { jobId, status } = await startedJob(w, id);
    await eventually(() => w.h.runner.submitted.length === 1, 5000, 'runner submit');
    await w.h.runner.complete(jobId);
    await eventually(() => buttonIds(status).includes(`vb:regen:${jobId}`), 5000, 'result buttons');

    const details = await w.fake.clickButton(status, `vb:details:${jobId}`, { user: BOB });
    await eventually(() => w.fake.callbackOf(details), 5000, 'details');
    expect(w.fake.callbackOf(details)).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(w.fake.callbackOf(details)!.data.content).toContain('Prompt: a lighthouse');

    const regen = await w.fake.clickButton(status, `vb:regen:${jobId}`, { user: BOB });
    const second = await startedJob(w, regen);
    const regenerated = await w.h.service.get(second.jobId);
    expect(regenerated?.params.prompt).toBe('a lighthouse');
    expect(regenerated?.params.seed).not.toBe(7);
    expect(regenerated?.requester.userId).toBe(BOB.id);
    expect(second.status.id).not.toBe(status.id);

    const edit = await w.fake.clickButton(status, `vb:edit:${jobId}`);
    await eventually(() => w.fake.callbackOf(edit), 5000, 'edit modal');
    expect(w.fake.modalOf(edit).components[0].components[0].value).toBe('a lighthouse');
    const submit = await w.fake.submitModal(edit, { prompt: 'a lighthouse at night' });
    const third = await startedJob(w, submit);
    const edited = await w.h.service.get(third.jobId);
    expect(edited?.params).toMatchObject({ prompt: 'a lighthouse at night', seed: 7 });
  });

  it('"Animate with videobot" asks for a prompt in a modal and animates the message’s image', async () => {
    w = await startWorld();
    const image = w.fake.hostAttachment('photo.png', PNG, 'image/png');
    const target = w.fake.userMessage(BOB, 'look at this', [image]);
    const menu = await w.fake.messageCommand('Animate with videobot', target);
    await eventually(() => w.fake.callbackOf(menu), 5000, 'modal');
    expect(w.fake.modalOf(menu).title).toBe('Animate with videobot');
    const submit = await w.fake.submitModal(menu, { prompt: 'the waves roll in' });
    const { jobId } = await startedJob(w, submit);
    const job = await w.h.service.get(jobId);
    expect(job?.params).toMatchObject({ mode: 'i2v', prompt: 'the waves roll in', image: 'image.png' });
    expect(Buffer.from((await w.h.objects.getInput(jobId, 'image.png'))!).equals(Buffer.from(PNG))).toBe(true);
  });

  it('"Animate with videobot" on a message without an image asks for one in the form (a File Upload) and animates it', async () => {
    w = await startWorld();
    const target = w.fake.userMessage(BOB, 'just text', []);
    const menu = await w.fake.messageCommand('Animate with videobot', target);
    await eventually(() => w.fake.callbackOf(menu), 5000, 'modal');
    // The fake refuses a modal Discord would refuse (a File Upload outside a Label, a bad file_types list, …).
    const form = w.fake.modalOf(menu);
    expect(form.components.map((c: { type: number; component: { type: number } }) => [c.type, c.component.type])).toEqual([[18, 4], [18, 19]]);
    expect(form.components[1].component).toMatchObject({ custom_id: 'image', min_values: 1, max_values: 1, required: true, file_types: ['.png', '.jpg', '.jpeg', '.webp'] });
    const upload = w.fake.hostAttachment('sunset.png', PNG, 'image/png');
    const submit = await w.fake.submitModal(menu, { prompt: 'the sun sets' }, { files: { image: [upload] } });
    const { jobId } = await startedJob(w, submit);
    expect((await w.h.service.get(jobId))?.params).toMatchObject({ mode: 'i2v', prompt: 'the sun sets', image: 'image.png' });
    expect(Buffer.from((await w.h.objects.getInput(jobId, 'image.png'))!).equals(Buffer.from(PNG))).toBe(true);
  });

  it('"Animate with videobot" refuses an uploaded file that is not an image, in one private sentence', async () => {
    w = await startWorld();
    const menu = await w.fake.messageCommand('Animate with videobot', w.fake.userMessage(BOB, 'just text', []));
    await eventually(() => w.fake.callbackOf(menu), 5000, 'modal');
    const notes = w.fake.hostAttachment('notes.png', new TextEncoder().encode('not a picture at all'), 'image/png');
    const before = w.fake.channelMessages(w.fake.channelId).length;
    const submit = await w.fake.submitModal(menu, { prompt: 'move' }, { files: { image: [notes] } });
    const reply = await eventually(() => w.fake.originalOf(submit)?.content || undefined, 5000, 'reply');
    expect(reply).toMatch(/^The attachment "notes\.png" is not a PNG, JPEG or WebP image/);
    expect(w.fake.channelMessages(w.fake.channelId)).toHaveLength(before); // no status message: nothing was started
  });
});
