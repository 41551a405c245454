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
});
