// processing/limits.json is the one source of limits and error codes: the bot reads it (bot/core/limits.ts), and so does
// the Python job (processing/limits.py; processing/tests/test_contract.py); here both readings are compared.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildJobParams } from '../../bot/core/command.js';
import { parseFailure } from '../../bot/core/contract.js';
import { FAILURE_TEXT } from '../../bot/core/errors.js';
import { DEFAULT_IMAGE_LIMITS, inspectImage } from '../../bot/core/image.js';
import { ERROR_CODES, IMAGE_LIMITS, MAX_PROMPT_CHARS, SEED_RANGE, randomSeed } from '../../bot/core/limits.js';
import { mapFailure } from '../../bot/aws/sagemaker.js';
import type { ChatSurface } from '../../bot/core/ports.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';
import { PYTHON, REPO_ROOT } from '../support/video.js';

const raw = JSON.parse(readFileSync(join(REPO_ROOT, 'processing', 'limits.json'), 'utf8')) as {
  prompt: { max_chars: number };
  seed: { min: number; max: number };
  image: { max_bytes: number; max_pixels: number };
  errors: Record<string, { exit_code: number | null; retryable: boolean; auto_retry: boolean; message: string | null }>;
};

/** The codes the Python job can put in error.json: every `JobError("CODE"` in processing/. */
function codesInPythonSource(): Set<string> {
  const dir = join(REPO_ROOT, 'processing');
  const codes = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.py'))) {
    for (const [, code] of readFileSync(join(dir, file), 'utf8').matchAll(/JobError\(\s*"([A-Z_]+)"/g)) codes.add(code!);
  }
  return codes;
}

/** What the Python side makes of the same file: each job code's exit code and JobError's default retryable flag. */
function pythonErrorTable(): Record<string, { exit_code: number; retryable: boolean }> {
  const script = [
    'import json',
    'from processing.errors import EXIT_CODES, JobError',
    'print(json.dumps({c: {"exit_code": JobError(c, "x").exit_code, "retryable": JobError(c, "x").retryable} for c in EXIT_CODES}))',
  ].join('\n');
  return JSON.parse(execFileSync(PYTHON, ['-c', script], { cwd: REPO_ROOT, encoding: 'utf8' })) as Record<string, { exit_code: number; retryable: boolean }>;
}

describe('limits.json', () => {
  it('gives the bot its prompt, seed and image limits', () => {
    expect(MAX_PROMPT_CHARS).toBe(raw.prompt.max_chars);
    expect(SEED_RANGE).toEqual(raw.seed);
    expect(IMAGE_LIMITS).toEqual({ maxBytes: raw.image.max_bytes, maxPixels: raw.image.max_pixels });
    expect(DEFAULT_IMAGE_LIMITS).toEqual(IMAGE_LIMITS);
  });

  it('holds one seed range, fit for a JavaScript integer and a crypto.randomInt draw', () => {
    expect(Number.isSafeInteger(SEED_RANGE.max)).toBe(true);
    expect(SEED_RANGE.max + 1 - SEED_RANGE.min).toBeLessThanOrEqual(2 ** 48);
  });

  it('draws the default seed over the whole range, ends included', () => {
    expect(randomSeed((min) => min)).toBe(SEED_RANGE.min);
    expect(randomSeed((_min, maxExclusive) => maxExclusive - 1)).toBe(SEED_RANGE.max);
  });

  it('is the limit the bot enforces on prompts and seeds', () => {
    const ctx = { defaultModel: 'tiny-random', randomSeed: 1 };
    expect(buildJobParams({ prompt: 'a'.repeat(MAX_PROMPT_CHARS) }, ctx).prompt).toHaveLength(MAX_PROMPT_CHARS);
    expect(() => buildJobParams({ prompt: 'a'.repeat(MAX_PROMPT_CHARS + 1) }, ctx)).toThrow(`The prompt is ${MAX_PROMPT_CHARS + 1} characters; the limit is ${MAX_PROMPT_CHARS}.`);
    expect(buildJobParams({ prompt: 'a bee', seed: SEED_RANGE.max }, ctx).seed).toBe(SEED_RANGE.max);
    expect(() => buildJobParams({ prompt: 'a bee', seed: SEED_RANGE.max + 1 }, ctx)).toThrow(/--seed must be a whole number/);
  });

  it('is the image size the bot accepts', () => {
    const png = new Uint8Array(IMAGE_LIMITS.maxBytes + 1);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(() => inspectImage(png)).toThrow('images up to 20 MiB are accepted');
  });
});

describe('error codes', () => {
  it('every code the Python job can write is known to the bot, with the same exit code and retryable flag', () => {
    const python = pythonErrorTable();
    for (const code of codesInPythonSource()) expect(python, `${code} is raised in processing/ but not in limits.json`).toHaveProperty(code);
    expect(Object.keys(python).length).toBeGreaterThanOrEqual(6);
    for (const [code, py] of Object.entries(python)) {
      const bot = ERROR_CODES.get(code);
      expect(bot, code).toBeDefined();
      expect({ code, exitCode: bot!.exitCode, retryable: bot!.retryable }).toEqual({ code, exitCode: py.exit_code, retryable: py.retryable });
      // error.json without a flag reads as the code's flag
      expect(parseFailure({ code, message: 'x' })!.retryable, code).toBe(py.retryable);
    }
  });

  it('gives the default sentences the bot shows', () => {
    for (const [code, e] of Object.entries(raw.errors)) expect(FAILURE_TEXT[code], code).toBe(e.message ?? undefined);
    expect(mapFailure('CapacityError: no ml.g5.2xlarge capacity', undefined, undefined)).toEqual({ code: 'CAPACITY', message: raw.errors.CAPACITY!.message, retryable: true });
  });

  it('lists every code the bot uses, so no failure is read with a made-up flag', () => {
    const bot = join(REPO_ROOT, 'bot');
    const used = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
        else if (entry.name.endsWith('.ts')) {
          for (const [, code] of readFileSync(join(dir, entry.name), 'utf8').matchAll(/code: '([A-Z][A-Z_]+)'/g)) used.add(code!);
        }
      }
    };
    walk(bot);
    expect(used.size).toBeGreaterThan(3);
    for (const code of used) expect(ERROR_CODES.has(code), code).toBe(true);
  });
});

describe('an enhanced prompt over the prompt limit', () => {
  let h: Harness | undefined;
  afterEach(async () => h?.close());

  it('is not sent to the job, which would refuse it: the job runs on the prompt the user wrote', async () => {
    const chat: ChatSurface = {
      platform: 'test',
      announce: async (job) => job.conversation,
      retract: async () => {},
      showStatus: async () => {},
      postVideo: async () => {},
    };
    h = await createHarness([chat], { enhancer: { name: 'wordy', enhance: async (p) => `${p} ${'very '.repeat(MAX_PROMPT_CHARS / 5)}` } });
    const { job } = await h.service.submit({ requester: { platform: 'test', userId: 'alice' }, conversation: { platform: 'test', channelId: 'C1' }, request: { prompt: 'a bee', enhance: true } });
    await eventually(() => h!.runner.submitted.length === 1);
    expect(h.runner.submitted[0]!.params.prompt).toBe('a bee');
    expect((await h.store.get(job.id))?.state).not.toBe('failed');
  });
});
