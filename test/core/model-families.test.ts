// Wan beside CogVideoX with no per-model TypeScript: every rule the bot applies to a Wan request comes from
// processing/presets.json (frames rule, sizes, fps, modes), and the i2v sibling is found by family and generation.
import { afterEach, describe, expect, it } from 'vitest';
import { buildJobParams, parseVideoCommand } from '../../bot/core/command.js';
import { InvalidCommandError } from '../../bot/core/errors.js';
import { PRESETS, getPreset, imageToVideoPresetFor } from '../../bot/core/presets.js';
import { createHarness, type Harness } from '../support/harness.js';
import { QuietChat } from '../support/recording-chat.js';

const ctx = { defaultModel: 'cogvideox-5b', randomSeed: 99 };
const params = (text: string, image?: string) =>
  buildJobParams(parseVideoCommand(text), { ...ctx, ...(image ? { image } : {}) });
const refusal = (text: string, image?: string): string => {
  try {
    params(text, image);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidCommandError);
    return (err as Error).message;
  }
  throw new Error(`expected "${text}" to be refused`);
};

describe('Wan presets, read from presets.json', () => {
  it('wan2.2-ti2v-5b makes 1280x704 at 24 fps, 121 frames by default', () => {
    expect(params('a fox running through snow --model wan2.2-ti2v-5b')).toMatchObject({
      mode: 't2v', model: 'wan2.2-ti2v-5b', frames: 121, fps: 24, width: 1280, height: 704, steps: 50, guidance: 5,
    });
  });

  it('--seconds picks the nearest 4N+1 frame count at the family fps', () => {
    expect(params('x --model wan2.2-ti2v-5b --seconds 3').frames).toBe(73); // 3 s x 24 fps + 1
    expect(params('x --model wan2.1-t2v-1.3b --seconds 2').frames).toBe(33); // 2 s x 16 fps + 1
  });

  it('refuses a frame count off the 4N+1 rule in one sentence naming the rule', () => {
    expect(refusal('x --model wan2.2-ti2v-5b --frames 50')).toBe(
      'Wan2.2-TI2V-5B needs 4N+1 frames from 5 to 121 (e.g. 121); got --frames 50.',
    );
    expect(refusal('x --model tiny-random --frames 50')).toBe(
      'tiny-random (test model: random weights, outputs noise) needs 8N+1 frames from 9 to 49 (9, 17, 25, 33, 41, 49); got --frames 50.',
    );
  });

  it('an image with the text-and-image Wan model runs that same model as image-to-video', () => {
    expect(params('the fox turns its head --model wan2.2-ti2v-5b', 'fox.png')).toMatchObject({
      mode: 'i2v', model: 'wan2.2-ti2v-5b', image: 'fox.png', fps: 24,
    });
  });

  it('an image with Wan 2.1 (text only, no 2.1 image model here) is refused, not sent to another generation', () => {
    expect(imageToVideoPresetFor(getPreset('wan2.1-t2v-1.3b')!)).toBeUndefined();
    expect(refusal('a fox --model wan2.1-t2v-1.3b', 'fox.png')).toMatch(/^Wan2\.1-T2V-1\.3B cannot animate an image\. Use .*wan2\.2-ti2v-5b/);
  });

  it('CogVideoX text-to-video presets still find their image-to-video sibling of the same generation', () => {
    expect(imageToVideoPresetFor(getPreset('cogvideox-5b')!)?.id).toBe('cogvideox-5b-i2v');
    expect(imageToVideoPresetFor(getPreset('cogvideox1.5-5b')!)?.id).toBe('cogvideox1.5-5b-i2v');
  });

  it('every preset names its family and generation; the test models are labelled as such', () => {
    for (const preset of PRESETS.values()) {
      expect(['cogvideox', 'wan']).toContain(preset.family);
      expect(preset.generation).toMatch(/^\d+\.\d+$/);
      if (preset.testOnly) expect(preset.label).toContain('test model');
    }
    expect(getPreset('tiny-random-wan')).toMatchObject({ family: 'wan', testOnly: true, modes: ['t2v', 'i2v'] });
    expect(getPreset('wan2.2-ti2v-5b')!.negativePrompt).not.toBe('');
  });
});

describe('--size picks one of the model\'s sizes', () => {
  it('makes Wan 2.2 in portrait, and refuses a size the model does not make in one sentence naming its sizes', () => {
    expect(params('a lighthouse at dusk --model wan2.2-ti2v-5b --size 704x1280')).toMatchObject({ width: 704, height: 1280 });
    expect(params('a lighthouse --model wan2.2-ti2v-5b --size=1280×704')).toMatchObject({ width: 1280, height: 704 });
    expect(refusal('a lighthouse --model wan2.2-ti2v-5b --size 720x480')).toBe(
      'Wan2.2-TI2V-5B makes 1280x704 or 704x1280 video; got --size 720x480.',
    );
    expect(refusal('a lighthouse --size big')).toBe('CogVideoX-5B makes 720x480 video; got --size big.');
  });

  describe('through the service', () => {
    let h: Harness | undefined;
    afterEach(async () => h?.close());

    it('Retry, Regenerate and Edit prompt keep the portrait size of the video they redo', async () => {
      h = await createHarness([new QuietChat()], { access: { maxJobsPerUser: 10 } });
      const alice = { platform: 'test' as const, userId: 'alice' };
      const conversation = { platform: 'test' as const, channelId: 'C1' };
      const { job } = await h.service.submit({
        requester: alice, conversation, request: { prompt: 'a lighthouse', model: 'wan2.2-ti2v-5b', size: '704x1280' },
      });
      expect(job.params).toMatchObject({ width: 704, height: 1280 });
      const regen = await h.service.submit({ requester: alice, conversation, redo: { jobId: job.id, newSeed: true } });
      const edit = await h.service.submit({ requester: alice, conversation, redo: { jobId: job.id, prompt: 'a lighthouse in fog' } });
      for (const redo of [regen, edit]) expect(redo.job.params).toMatchObject({ model: 'wan2.2-ti2v-5b', width: 704, height: 1280 });
    });
  });
});
