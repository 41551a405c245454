// Parses `/video <prompt> [flags]` and turns a request into validated job parameters for a preset.
import { InvalidCommandError } from './errors.js';
import type { JobParams } from './job.js';
import { MAX_PROMPT_CHARS, SEED_RANGE } from './limits.js';
import type { Mode, Preset } from './presets.js';
import {
  PRESET_IDS,
  allowedFrames,
  framesAllowed,
  framesForSeconds,
  getPreset,
  imageToVideoPresetFor,
} from './presets.js';

/** What the user asked for; every field but the prompt is optional. Chat adapters with typed options build this directly. */
export interface VideoRequest {
  prompt: string;
  model?: string;
  seed?: number;
  frames?: number;
  seconds?: number;
  steps?: number;
  guidance?: number;
  negative?: string;
  enhance?: boolean;
  fit?: 'crop' | 'pad';
  /** WIDTHxHEIGHT, one of the model's sizes (presets.json), e.g. 704x1280 for Wan 2.2's portrait; default its first. */
  size?: string;
}

type FlagKind = 'int' | 'number' | 'string' | 'bool';
const FLAGS: Record<string, { key: keyof VideoRequest; kind: FlagKind }> = {
  seed: { key: 'seed', kind: 'int' },
  model: { key: 'model', kind: 'string' },
  frames: { key: 'frames', kind: 'int' },
  seconds: { key: 'seconds', kind: 'number' },
  steps: { key: 'steps', kind: 'int' },
  guidance: { key: 'guidance', kind: 'number' },
  negative: { key: 'negative', kind: 'string' },
  enhance: { key: 'enhance', kind: 'bool' },
  fit: { key: 'fit', kind: 'string' },
  size: { key: 'size', kind: 'string' },
};

export const USAGE =
  '/video <prompt> [--model PRESET] [--seed N] [--frames N | --seconds S] [--steps N] [--guidance G] [--negative "text"] [--enhance] [--fit crop|pad] [--size WxH]';

/**
 * Phones and chat apps turn a typed "--seed" into "—seed"; a dash is read back as a flag only when it starts a word
 * and a flag name follows, so "a dog —running" stays prose.
 */
const AUTOCORRECTED_FLAG = new RegExp(`(^|\\s)[—–](?=(?:${Object.keys(FLAGS).join('|')})(?:[=\\s]|$))`, 'gi');

// The prompt and seed limits are processing/limits.json's, shared with the job.
export { MAX_PROMPT_CHARS } from './limits.js';
const MAX_SEED = SEED_RANGE.max;

/** Splits text into words, keeping "quoted phrases" (straight or curly quotes, as Slack sends them) together. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /"([^"]*)"|“([^”]*)”|'([^']*)'|(\S+)/g;
  for (const m of text.matchAll(re)) tokens.push(m[1] ?? m[2] ?? m[3] ?? m[4] ?? '');
  return tokens;
}

/** Parses the text after `/video`. Throws InvalidCommandError with one sentence saying what is allowed. */
export function parseVideoCommand(text: string): VideoRequest {
  const tokens = tokenize(text.replace(AUTOCORRECTED_FLAG, '$1--'));
  const words: string[] = [];
  const request: VideoRequest = { prompt: '' };
  const seen = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!token.startsWith('--') || token.length < 3) {
      words.push(token);
      continue;
    }
    const [rawName, inlineValue] = token.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const name = rawName.toLowerCase();
    const flag = FLAGS[name];
    if (!flag) {
      throw new InvalidCommandError(
        `Unknown option --${rawName}. Options are: ${Object.keys(FLAGS).map((f) => `--${f}`).join(', ')}.`,
      );
    }
    if (seen.has(name)) throw new InvalidCommandError(`--${name} is given twice; give it once.`);
    seen.add(name);
    if (flag.kind === 'bool') {
      (request as unknown as Record<string, unknown>)[flag.key] = true;
      continue;
    }
    const value = inlineValue ?? tokens[++i];
    if (value === undefined || (inlineValue === undefined && value.startsWith('--'))) {
      throw new InvalidCommandError(`--${name} needs a value, e.g. ${example(name)}.`);
    }
    (request as unknown as Record<string, unknown>)[flag.key] = convert(name, flag.kind, value);
  }
  if (request.frames !== undefined && request.seconds !== undefined) {
    throw new InvalidCommandError('Give either --frames or --seconds, not both.');
  }
  if (request.fit !== undefined && request.fit !== 'crop' && request.fit !== 'pad') {
    throw new InvalidCommandError(`--fit must be crop or pad; got "${String(request.fit)}".`);
  }
  request.prompt = words.join(' ').trim();
  return request;
}

function convert(name: string, kind: FlagKind, value: string): string | number {
  if (kind === 'string') return value;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) {
    throw new InvalidCommandError(`--${name} must be ${kind === 'int' ? 'a whole number' : 'a number'}, e.g. ${example(name)}; got "${value}".`);
  }
  return n;
}

function example(name: string): string {
  const examples: Record<string, string> = {
    seed: '--seed 42',
    model: '--model cogvideox-5b',
    frames: '--frames 49',
    seconds: '--seconds 6',
    steps: '--steps 50',
    guidance: '--guidance 6',
    negative: '--negative "blurry, low quality"',
    fit: '--fit pad',
    size: '--size 704x1280',
  };
  return examples[name] ?? `--${name} VALUE`;
}

export interface ParamsContext {
  /** The model used when the request names none. */
  readonly defaultModel: string;
  /** File name of the attached image, if any (makes the job image-to-video). */
  readonly image?: string;
  /** A fresh random seed, used when the request gives none. */
  readonly randomSeed: number;
}

/** Validates a request against its preset and fills in defaults. Throws InvalidCommandError. */
export function buildJobParams(request: VideoRequest, ctx: ParamsContext): JobParams {
  const prompt = request.prompt.trim();
  if (!prompt) {
    throw new InvalidCommandError(
      ctx.image ? 'Describe how the image should move, e.g. "the waves roll onto the beach".' : 'Describe the video you want, e.g. `/video a bee landing on a sunflower`.',
    );
  }
  if (prompt.length > MAX_PROMPT_CHARS) {
    throw new InvalidCommandError(`The prompt is ${prompt.length} characters; the limit is ${MAX_PROMPT_CHARS}.`);
  }
  const mode: Mode = ctx.image ? 'i2v' : 't2v';
  const preset = resolvePreset(request.model ?? ctx.defaultModel, mode, request.model !== undefined);

  let frames = preset.frames.default;
  if (request.seconds !== undefined) {
    const maxSeconds = (preset.frames.max - 1) / preset.fps;
    const minSeconds = (preset.frames.min - 1) / preset.fps;
    if (!(request.seconds >= minSeconds && request.seconds <= maxSeconds)) {
      throw new InvalidCommandError(
        `${preset.label} makes clips of ${fmt(minSeconds)} to ${fmt(maxSeconds)} seconds; got --seconds ${request.seconds}.`,
      );
    }
    frames = framesForSeconds(preset, request.seconds);
  } else if (request.frames !== undefined) {
    frames = request.frames;
    if (!framesAllowed(preset, frames)) throw new InvalidCommandError(framesMessage(preset, frames));
  }
  const steps = request.steps ?? preset.steps.default;
  if (!Number.isInteger(steps) || steps < preset.steps.min || steps > preset.steps.max) {
    throw new InvalidCommandError(
      `--steps must be a whole number from ${preset.steps.min} to ${preset.steps.max} (default ${preset.steps.default}); got ${steps}.`,
    );
  }
  const guidance = request.guidance ?? preset.guidance.default;
  if (!(guidance >= preset.guidance.min && guidance <= preset.guidance.max)) {
    throw new InvalidCommandError(
      `--guidance must be between ${preset.guidance.min} and ${preset.guidance.max} (default ${preset.guidance.default}); got ${guidance}.`,
    );
  }
  const seed = request.seed ?? ctx.randomSeed;
  if (!Number.isInteger(seed) || seed < SEED_RANGE.min || seed > MAX_SEED) {
    throw new InvalidCommandError(`--seed must be a whole number from ${SEED_RANGE.min} to ${MAX_SEED}; got ${seed}.`);
  }
  const negative = (request.negative ?? '').trim();
  if (negative.length > MAX_PROMPT_CHARS) {
    throw new InvalidCommandError(`The negative prompt is ${negative.length} characters; the limit is ${MAX_PROMPT_CHARS}.`);
  }
  const [height, width] = request.size === undefined ? preset.sizes[0]! : sizeOf(preset, request.size);
  return {
    mode,
    model: preset.id,
    prompt,
    negativePrompt: negative,
    seed,
    frames,
    fps: preset.fps,
    steps,
    guidance,
    height,
    width,
    imageFit: request.fit ?? 'crop',
    ...(ctx.image ? { image: ctx.image } : {}),
  };
}

function resolvePreset(id: string, mode: Mode, explicit: boolean): Preset {
  const preset = getPreset(id.toLowerCase());
  if (!preset) {
    throw new InvalidCommandError(`Unknown model "${id}". Models: ${PRESET_IDS.join(', ')}.`);
  }
  if (preset.modes.includes(mode)) return preset;
  if (mode === 'i2v') {
    const i2v = imageToVideoPresetFor(preset);
    if (i2v) return i2v;
    throw new InvalidCommandError(`${preset.label} cannot animate an image. Use ${PRESET_IDS.filter((p) => getPreset(p)!.modes.includes('i2v')).join(' or ')}.`);
  }
  throw new InvalidCommandError(
    explicit
      ? `${preset.label} animates an image: attach one, or use a text-to-video model (${PRESET_IDS.filter((p) => getPreset(p)!.modes.includes('t2v')).join(', ')}).`
      : `The default model ${preset.label} needs an image.`,
  );
}

/** [height, width] of a `--size WxH` the preset makes, or one sentence naming the sizes it does. */
function sizeOf(preset: Preset, text: string): readonly [number, number] {
  const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/i.exec(text);
  const found = m ? preset.sizes.find(([h, w]) => w === Number(m[1]) && h === Number(m[2])) : undefined;
  if (!found) {
    const sizes = preset.sizes.map(([h, w]) => `${w}x${h}`).join(' or ');
    throw new InvalidCommandError(`${preset.label} makes ${sizes} video; got --size ${text}.`);
  }
  return found;
}

export function framesMessage(preset: Preset, frames: number): string {
  const allowed = allowedFrames(preset);
  if (allowed.length === 1) return `${preset.label} makes exactly ${allowed[0]} frames; got --frames ${frames}.`;
  // A long list (Wan allows 30 counts) reads worse than the rule and one example.
  const examples = allowed.length <= 12 ? allowed.join(', ') : `e.g. ${preset.frames.default}`;
  return `${preset.label} needs ${preset.frames.step}N+1 frames from ${preset.frames.min} to ${preset.frames.max} (${examples}); got --frames ${frames}.`;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/**
 * A cautious estimate of T5 tokens for English text (SentencePiece splits rare words into pieces).
 * Used only to warn that the model will cut a long prompt at its preset's `maxTextTokens` limit.
 */
export function estimateTextTokens(text: string): number {
  const words = text.trim().split(/\s+/).filter(Boolean);
  let tokens = 1; // end-of-sequence
  for (const w of words) tokens += Math.max(1, Math.ceil(w.replace(/[^\p{L}\p{N}]/gu, '').length / 4)) + (/[^\p{L}\p{N}]/u.test(w) ? 1 : 0);
  return tokens;
}

/**
 * What a reply must add about how a request was read where it differs from what was typed: a text-only model
 * named with an image runs as its image-to-video sibling, and --enhance does nothing without an enhancer.
 */
export function requestNotes(request: VideoRequest, params: JobParams, ctx: { readonly enhancer: boolean }): string[] {
  const notes: string[] = [];
  const named = request.model ? getPreset(request.model.toLowerCase()) : undefined;
  if (named && named.id !== params.model) {
    notes.push(`${named.label} makes videos from text only, so your image is animated with ${getPreset(params.model)?.label ?? params.model} instead.`);
  }
  if (request.enhance && !ctx.enhancer) {
    notes.push('--enhance was ignored: no prompt enhancer (LLM) is set up here, so your prompt is used as typed.');
  }
  return notes;
}
