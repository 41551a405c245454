import { describe, expect, it } from 'vitest';
import { buildJobParams, estimateTextTokens, parseVideoCommand, tokenize } from '../../bot/core/command.js';
import { InvalidCommandError } from '../../bot/core/errors.js';

const ctx = { defaultModel: 'cogvideox-5b', randomSeed: 1234 };
const params = (text: string, extra: Partial<typeof ctx> & { image?: string } = {}) => buildJobParams(parseVideoCommand(text), { ...ctx, ...extra });
const fails = (text: string, extra: Partial<typeof ctx> & { image?: string } = {}) => {
  try {
    params(text, extra);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidCommandError);
    return (err as Error).message;
  }
  throw new Error(`expected "${text}" to be rejected`);
};

describe('tokenize', () => {
  it('keeps straight and curly quoted phrases together', () => {
    expect(tokenize('a "b c" “d e” \'f g\' h')).toEqual(['a', 'b c', 'd e', 'f g', 'h']);
  });
});

describe('parseVideoCommand + buildJobParams', () => {
  it('uses the preset defaults', () => {
    expect(params('a bee on a flower')).toEqual({
      mode: 't2v', model: 'cogvideox-5b', prompt: 'a bee on a flower', negativePrompt: '', seed: 1234,
      frames: 49, fps: 8, steps: 50, guidance: 6, height: 480, width: 720, imageFit: 'crop',
    });
  });

  it('reads every flag, anywhere in the text, with = or a space', () => {
    const p = params('--seed 7 a bee --model cogvideox-2b --frames=25 --steps 30 --guidance 7.5 --negative "blurry, dark" on a flower');
    expect(p).toMatchObject({ prompt: 'a bee on a flower', seed: 7, model: 'cogvideox-2b', frames: 25, steps: 30, guidance: 7.5, negativePrompt: 'blurry, dark' });
    expect(parseVideoCommand('x --enhance').enhance).toBe(true);
  });

  it('turns --seconds into the nearest valid frame count', () => {
    expect(params('x --seconds 3').frames).toBe(25);
    expect(params('x --model cogvideox1.5-5b --seconds 5').frames).toBe(81);
    expect(params('x --model cogvideox1.5-5b --seconds 10').frames).toBe(161);
  });

  it('picks the image-to-video preset when an image is attached', () => {
    expect(params('waves roll', { image: 'image.png' })).toMatchObject({ mode: 'i2v', model: 'cogvideox-5b-i2v', image: 'image.png', frames: 49 });
    expect(params('waves --model cogvideox1.5-5b', { image: 'image.png' }).model).toBe('cogvideox1.5-5b-i2v');
    expect(params('noise --model tiny-random', { image: 'image.jpg' })).toMatchObject({ mode: 'i2v', model: 'tiny-random', height: 64, width: 96 });
  });

  it.each([
    ['', /Describe the video/],
    ['   ', /Describe the video/],
    ['a bee --colour red', /Unknown option --colour\. Options are: --seed/],
    ['a bee --frames 50', /needs 8N\+1 frames from 9 to 49 \(9, 17, 25, 33, 41, 49\); got --frames 50/],
    ['a bee --model cogvideox1.5-5b --frames 41', /16N\+1 frames from 17 to 161/],
    ['a bee --steps 0', /--steps must be a whole number from 1 to 100 \(default 50\); got 0/],
    ['a bee --guidance 100', /--guidance must be between 1 and 20 \(default 6\); got 100/],
    ['a bee --model sora', /Unknown model "sora"\. Models: cogvideox-2b, cogvideox-5b/],
    ['a bee --seed -1', /--seed must be a whole number from 0/],
    ['a bee --seed 1.5', /--seed must be a whole number/],
    ['a bee --steps many', /--steps must be a whole number, e\.g\. --steps 50; got "many"/],
    ['a bee --frames 9 --seconds 2', /either --frames or --seconds/],
    ['a bee --seconds 60', /makes clips of 1 to 6 seconds; got --seconds 60/],
    ['a bee --seed', /--seed needs a value, e\.g\. --seed 42/],
    ['a bee --seed 1 --seed 2', /--seed is given twice/],
    ['a bee --fit stretch', /--fit must be crop or pad/],
    ['a bee --model cogvideox-5b-i2v', /animates an image: attach one/],
  ])('rejects %j with one clear sentence', (text, message) => {
    expect(fails(text)).toMatch(message);
  });

  it('rejects a frame count other than 49 for the 5B image-to-video model', () => {
    expect(fails('x --frames 25', { image: 'image.png' })).toMatch(/makes exactly 49 frames; got --frames 25/);
  });

  it('rejects a 2B model for an image', () => {
    expect(params('x --model cogvideox-2b', { image: 'i.png' }).model).toBe('cogvideox-5b-i2v');
  });
});

describe('estimateTextTokens', () => {
  it('grows with the text and flags long prompts', () => {
    expect(estimateTextTokens('a bee')).toBeLessThan(5);
    expect(estimateTextTokens('word '.repeat(300))).toBeGreaterThan(226);
  });
});

describe('dashes typed by phones and chat apps', () => {
  it('reads an em- or en-dash before a flag name as the flag', () => {
    expect(parseVideoCommand('a bee —seed 4 –steps=20')).toMatchObject({ prompt: 'a bee', seed: 4, steps: 20 });
    expect(parseVideoCommand('a bee —enhance')).toMatchObject({ prompt: 'a bee', enhance: true });
  });

  it('keeps a dash before an ordinary word as part of the prompt', () => {
    expect(parseVideoCommand('a dog —running through snow')).toMatchObject({ prompt: 'a dog —running through snow' });
    expect(parseVideoCommand('sunset –seeds drifting —modelled in clay')).toMatchObject({ prompt: 'sunset –seeds drifting —modelled in clay' });
    expect(parseVideoCommand('a dog—running')).toMatchObject({ prompt: 'a dog—running' });
  });
});
