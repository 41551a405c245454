import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createShellAdapter } from '../../bot/chat/shell.js';
import { JOB_STATES } from '../../bot/core/job.js';
import type { Enhancer } from '../../bot/core/ports.js';
import { pngHeader } from '../slack/payloads.js';
import { createHarness, eventually, testLogger, type Harness } from '../support/harness.js';

describe('terminal chat', () => {
  let h: Harness;
  let input: PassThrough;
  let screen = '';
  afterEach(async () => {
    input.end();
    await h.close();
  });

  async function setup(enhancer?: Enhancer, admins: string[] = []) {
    input = new PassThrough();
    const output = new PassThrough();
    screen = '';
    output.on('data', (d: Buffer) => (screen += d.toString()));
    const shell = createShellAdapter({ input, output, userId: 'me', logger: testLogger(), notices: ['No NVIDIA GPU found'] });
    h = await createHarness([shell.surface], { ...(enhancer ? { enhancer } : {}), access: { admins } });
    // The shell speaks for platform "shell"; the harness's user lists are per platform.
    await shell.start(h.service);
  }
  const type = (line: string) => input.write(`${line}\n`);
  const shown = (text: string | RegExp) => eventually(() => (typeof text === 'string' ? screen.includes(text) : text.test(screen)), 5000, `screen to show ${text}`);

  it('makes a video: queue, progress bar with step and ETA, then the MP4 path', async () => {
    await setup();
    expect(screen).toContain('No NVIDIA GPU found');
    type('/video a bee on a flower --seed 9');
    await shown(/\[j0001\] Queued: tiny-random \(test model — random noise\) · seed 9/);
    await eventually(() => h.runner.submitted.length === 1);
    await eventually(async () => (await h.store.get('j0001'))?.state === 'starting');
    await h.runner.progress('j0001', 2, 4);
    await shown(/█{10}░{10} step 2\/4 ETA 4s/);
    await h.runner.complete('j0001');
    await shown(/Video ready: \/.*j0001\/output\/video\.mp4/);
    type('/jobs');
    await shown(/j0001 {2}delivered {2}a bee on a flower/);
    type('/details j0001');
    await shown('Prompt: a bee on a flower');
  });

  it('answers bad input with one clear sentence and keeps going', async () => {
    await setup();
    type('/video a bee --frames 50');
    await shown('✗ tiny-random (test model: random weights, outputs noise) needs 8N+1 frames from 9 to 49');
    type('/video');
    await shown('✗ Describe the video you want');
    type('/video x --image /nonexistent.png');
    await shown('✗ There is no file at /nonexistent.png.');
    type('/frobnicate');
    await shown('Unknown command /frobnicate.');
    type('/cancel j9999');
    await shown('✗ There is no job j9999.');
    expect(h.runner.submitted).toHaveLength(0);
  });

  it('cancels a job', async () => {
    await setup();
    type('/video a bee');
    await eventually(async () => (await h.store.get('j0001'))?.state === 'starting');
    type('/cancel j0001');
    await shown('[j0001] Cancelled.');
    expect(h.runner.cancelled).toEqual(['j0001']);
  });

  it('explains how to set up /enhance when no enhancer is configured', async () => {
    await setup();
    type('/enhance a bee');
    await shown('✗ Prompt enhancement is not set up. Point the bot at any OpenAI-compatible chat endpoint: set OPENAI_BASE_URL');
  });

  it('enhances, then /generate makes the enhanced prompt', async () => {
    await setup({ name: 'fake', enhance: async (p) => `A macro shot of ${p}, golden light, slow dolly-in.` });
    type('/enhance a bee');
    await shown('A macro shot of a bee, golden light, slow dolly-in.');
    type('/generate');
    await eventually(() => h.runner.submitted.length === 1);
    expect(h.runner.submitted[0]!.params.prompt).toBe('A macro shot of a bee, golden light, slow dolly-in.');
  });

  it('shows control characters and escape sequences of a prompt instead of letting them drive the terminal', async () => {
    await setup();
    type('/video "a bee\x1b[2J\x1b]0;pwned\x07 on a \u202eflower"');
    await eventually(() => h.runner.submitted.length === 1);
    type('/jobs');
    await shown('a bee\\x1b[2J\\x1b]0;pwned\\x07 on a \\u202e');
    type('/details j0001');
    await shown('Prompt: a bee\\x1b[2J\\x1b]0;pwned\\x07 on a \\u202eflower');
    expect(screen).not.toContain('\x1b[2J');
    expect(screen).not.toContain('\u202e');
  });

  it("/details shows only the person's own jobs (or any to an admin), and says why a job failed", async () => {
    await setup();
    type('/video a bee');
    await eventually(async () => (await h.store.get('j0001'))?.state === 'starting');
    await h.runner.fail('j0001', 'GPU_OUT_OF_MEMORY', 'The GPU ran out of memory at 49 frames; try --frames 25.');
    type('/details j0001');
    await shown('Why it failed: The GPU ran out of memory at 49 frames; try --frames 25.');
    const other = await h.service.submit({ requester: { platform: 'shell', userId: 'someone-else' }, conversation: { platform: 'shell', channelId: 'terminal' }, request: { prompt: 'their secret idea' } });
    type('/details ' + other.job.id);
    await shown(`There is no job ${other.job.id} of yours.`);
    expect(screen).not.toContain('their secret idea');
  });

  it('/details shows anyone\'s job to an admin', async () => {
    await setup(undefined, ['shell:me']);
    const other = await h.service.submit({ requester: { platform: 'shell', userId: 'someone-else' }, conversation: { platform: 'shell', channelId: 'terminal' }, request: { prompt: 'their idea' } });
    type('/details ' + other.job.id);
    await shown('Prompt: their idea');
  });

  it('says so when an image makes a text-only model run as its image-to-video sibling', async () => {
    await setup();
    const image = join(h.dir, 'beach.png');
    writeFileSync(image, pngHeader(720, 480));
    type(`/video the waves roll in --model cogvideox-5b --image ${image}`);
    await shown('Note: CogVideoX-5B makes videos from text only, so your image is animated with CogVideoX-5B image-to-video instead.').catch((err: Error) => {
      throw new Error(`${err.message}; the screen shows:\n${screen}`);
    });
    // The note can show before the job leaves `queued`, and it may be anywhere on its way by now: count it in every state.
    const jobs = async () => (await h.store.listByState(JOB_STATES)).filter((j) => j.params.mode === 'i2v' && j.params.model === 'cogvideox-5b-i2v');
    await eventually(async () => (await jobs()).length > 0, 5000, 'the image-to-video job');
    expect(await jobs()).toHaveLength(1);
  });

  it('says so when --enhance is given but no enhancer is set up', async () => {
    await setup();
    type('/video a bee --enhance');
    await shown('Note: --enhance was ignored: no prompt enhancer (LLM) is set up here, so your prompt is used as typed.');
  });

  it('answers --image naming a folder with one sentence', async () => {
    await setup();
    type(`/video the waves --image ${h.dir}`);
    await shown(`✗ ${h.dir} is a folder; --image needs a picture file (PNG, JPEG or WebP).`);
    expect(screen).not.toContain('EISDIR');
  });

  it('runs admin commands for an admin, and refuses a blocked prompt privately with one sentence', async () => {
    await setup(undefined, ['shell:me']);
    type('/admin block add Gore');
    await shown('Blocked "gore": prompts containing it are refused from now on.');
    type('/video so much GORE');
    await shown("✗ Sorry, I can't make a video from this prompt: it matches this workspace's content rules. Try describing it differently.");
    type('/admin block list');
    await shown('Blocked terms (1): "gore"\nPrompts refused by moderation so far: 1.');
    type('/admin ban shell:other');
    await shown('shell:other can no longer make videos.');
    type('/admin usage me');
    await shown(/shell:me: 0 videos \(no daily quota\) in the last 24 hours; 0 in progress/);
    expect(h.runner.submitted).toEqual([]);
  });

  it('refuses admin commands to someone who is not an admin', async () => {
    await setup();
    type('/admin block add gore');
    await shown('✗ Only admins can use the admin commands.');
    expect(await h.store.blockedTerms()).toEqual([]);
  });

  it('lists my videos with /videos, 10 a page, with the path on this machine', async () => {
    await setup();
    for (let i = 1; i <= 11; i++) {
      type(`/video clip number ${i}`);
      const id = `j${String(i).padStart(4, '0')}`;
      await eventually(() => h.runner.submitted.some((j) => j.id === id), 5000, `job ${id} to start`);
      await eventually(async () => (await h.store.get(id))?.state === 'starting');
      h.clock.advance(1000);
      await h.runner.complete(id);
      await eventually(async () => (await h.store.get(id))?.state === 'delivered', 5000, `job ${id} delivered`);
    }
    screen = '';
    type('/videos');
    await shown('Videos of shell:me, page 1:');
    await shown(/1\. j0011 .* tiny-random \(test model: random weights, outputs noise\) · seed \d+\n {3}clip number 11\n {3}\/.*j0011\/output\/video\.mp4/);
    await shown('/videos 2 for older');
    expect(screen).not.toContain('j0001 ');
    type('/videos 2');
    await shown(/11\. j0001 /);
    type('/videos @someone');
    await shown('✗ Only admins can see other people’s videos; `/videos` shows yours.');
  });
});
