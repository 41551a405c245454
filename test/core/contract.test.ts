// The processing contract on the bot's side against the golden files in test/fixtures/contract/, which
// processing/tests/test_contract.py checks against the Python job: the two sides cannot drift apart.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildJobParams } from '../../bot/core/command.js';
import { OUTPUT_FILES, jobFileBytes, parseFailure, parseMetadata, parseProgress, toJobFile } from '../../bot/core/contract.js';
import { planCombination } from '../../bot/core/combine.js';
import { InvalidCommandError } from '../../bot/core/errors.js';
import { planExtension } from '../../bot/core/extend.js';
import type { Job } from '../../bot/core/job.js';
import { details } from '../../bot/core/status.js';
import { readOutcome } from '../../bot/local/runner.js';
import { sampleJob } from '../support/fixtures.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'contract');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');
const fixtureJson = (name: string): Record<string, unknown> => JSON.parse(fixture(name)) as Record<string, unknown>;

const scratch: string[] = [];
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function outputDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'videobot-contract-'));
  scratch.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** The fixture's job as a chat request makes it: image-to-video, padded, the largest seed the limits allow. */
function fixtureJob() {
  const params = buildJobParams(
    { prompt: 'a paper boat drifting down a rainy street', model: 'cogvideox-5b-i2v', seed: 4294967295, negative: 'blurry, low quality', fit: 'pad' },
    { defaultModel: 'cogvideox-5b', randomSeed: 1, image: 'image.png' },
  );
  return sampleJob('jcontract01', { params });
}

describe('job.json', () => {
  it('is written exactly as the golden file the Python job validates', () => {
    expect(toJobFile(fixtureJob())).toEqual(fixtureJson('job.json'));
    expect(JSON.parse(new TextDecoder().decode(jobFileBytes(fixtureJob())))).toEqual(fixtureJson('job.json'));
  });

  it('holds no image field for text-to-video', () => {
    const file = toJobFile(sampleJob('j1'));
    expect(file).not.toHaveProperty('image');
    expect(Object.keys(file).sort()).toEqual(Object.keys(fixtureJson('job.json')).filter((k) => k !== 'image').sort());
  });
});

describe('job.json of Extend and Combine', () => {
  const delivered = (id: string, over: Partial<Job> = {}): Job => {
    const params = buildJobParams(
      { prompt: 'a paper boat drifting down a rainy street', model: 'cogvideox-5b', seed: 7, negative: 'blurry, low quality' },
      { defaultModel: 'cogvideox-5b', randomSeed: 1 },
    );
    return sampleJob(id, { state: 'delivered', params, ...over });
  };
  const lineage = (jobs: Job[]) => ({
    store: { get: async (id: string) => jobs.find((j) => j.id === id), listDeliveredInConversation: async () => [] },
    objects: { statOutput: async () => 1 },
    isAdmin: () => false,
  });
  const asker = { platform: 'slack' as const, userId: 'U1' };
  const here = { platform: 'slack' as const, channelId: 'C1' };

  it('Extend: the family\'s image-to-video preset, the parent clip instead of an image, as the golden file', async () => {
    const plan = await planExtension(
      { ...lineage([delivered('jparent')]), maxExtensions: 4, randomSeed: 42 },
      { jobId: 'jparent', prompt: 'the paper boat drifts under a stone bridge' },
      asker,
      here,
    );
    expect(toJobFile(sampleJob('jcontract02', { params: plan.params }))).toEqual(fixtureJson('job-extend.json'));
    expect(plan.inputs).toEqual([{ name: 'parent.mp4', fromJobId: 'jparent' }]);
  });

  it('Combine: the clips in order and nothing a model would read, as the golden file', async () => {
    const clips = [delivered('ja'), delivered('jb'), delivered('jc')];
    const plan = await planCombination(lineage(clips), ['ja', 'jb', 'jc'], asker, here);
    expect(toJobFile(sampleJob('jcontract03', { params: plan.params }))).toEqual(fixtureJson('job-combine.json'));
    expect(plan.inputs.map((i) => i.fromJobId)).toEqual(['ja', 'jb', 'jc']);
  });
});

describe('the job\'s output files, as processing writes them', () => {
  it('reads progress.json', () => {
    expect(parseProgress(fixture('progress.json'))).toEqual({ phase: 'denoising', step: 3, total: 4, etaS: 1, elapsedS: 12.5 });
    expect(parseProgress('{"step": 1}')).toBeUndefined();
    expect(parseProgress('[]')).toBeUndefined();
    expect(parseProgress('not json')).toBeUndefined();
  });

  it('reads error.json into the failure the user reads', () => {
    const expected = { code: 'GPU_OUT_OF_MEMORY', message: "The GPU ran out of memory (memory plan 'none'); try fewer frames or try again.", retryable: true };
    expect(parseFailure(fixtureJson('error.json'))).toEqual(expected);
    expect(readOutcome(outputDir({ [OUTPUT_FILES.error]: fixture('error.json') }))).toEqual({ status: 'failed', failure: expected });
  });

  it('fills what error.json leaves out from limits.json: the default sentence and retryable flag of its code', () => {
    expect(parseFailure({ code: 'GPU_OUT_OF_MEMORY' })).toEqual({
      code: 'GPU_OUT_OF_MEMORY',
      message: 'The GPU ran out of memory. Try fewer frames or a smaller model.',
      retryable: true,
    });
    expect(parseFailure({ code: 'INVALID_JOB', message: ' ' }, 'SageMaker exit message')).toEqual({ code: 'INVALID_JOB', message: 'SageMaker exit message', retryable: false });
    expect(parseFailure({ message: 'no code' })).toBeUndefined();
    expect(parseFailure(undefined)).toBeUndefined();
  });

  it('reads metadata.json beside video.mp4 as a completed job, and /details shows its timings', () => {
    const dir = outputDir({ [OUTPUT_FILES.metadata]: fixture('metadata.json'), [OUTPUT_FILES.video]: 'mp4' });
    const outcome = readOutcome(dir);
    expect(outcome).toEqual({ status: 'completed', metadata: fixtureJson('metadata.json') });
    expect(parseMetadata('[1]')).toBeUndefined();
    const metadata = parseMetadata(fixture('metadata.json'))!;
    const job = sampleJob('jcontract01', { state: 'delivered', result: { video: OUTPUT_FILES.video, sizeBytes: 3, metadata } });
    expect(details(job)).toContain('Timings: loading 46.6s, denoising 6.7s, decoding 7.9s, encoding 0.4s, total 61.6s');
  });

  it('is unknown while video.mp4 is there but metadata.json is not yet', () => {
    expect(readOutcome(outputDir({ [OUTPUT_FILES.video]: 'mp4' }))).toEqual({ status: 'unknown' });
  });

  it('names every file the job writes (processing/contract.py OUTPUT_FILES)', () => {
    const python = readFileSync(join(import.meta.dirname, '..', '..', 'processing', 'contract.py'), 'utf8');
    const listed = /^OUTPUT_FILES = \(([^)]*)\)/m.exec(python)![1]!.match(/"([^"]+)"/g)!.map((s) => s.slice(1, -1));
    expect(listed.sort()).toEqual(Object.values(OUTPUT_FILES).sort());
    const golden = readdirSync(FIXTURES).filter((f) => f.endsWith('.json') && !f.startsWith('job'));
    for (const name of golden) expect(Object.values(OUTPUT_FILES)).toContain(name);
  });
});

describe('a seed past the shared range', () => {
  it('is refused by the bot in one sentence (the job refuses it too: test_contract.py)', () => {
    const request = { prompt: 'a bee', model: 'tiny-random', seed: 4294967296 };
    expect(() => buildJobParams(request, { defaultModel: 'tiny-random', randomSeed: 1 })).toThrow(InvalidCommandError);
    expect(() => buildJobParams(request, { defaultModel: 'tiny-random', randomSeed: 1 })).toThrow('--seed must be a whole number from 0 to 4294967295; got 4294967296.');
  });
});

// Keeps the fixture folder honest: a golden file nobody reads is a drift waiting to happen.
describe('test/fixtures/contract', () => {
  it('holds the six golden files', () => {
    expect(readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()).toEqual([
      'error.json',
      'job-combine.json',
      'job-extend.json',
      'job.json',
      'metadata.json',
      'progress.json',
    ]);
  });
});

