// The processing contract on the bot's side: job.json as the job reads it, and the job's output files as it writes them
// (processing/contract.py, processing/validation.py, processing/progress.py, processing/errors.py; docs/processing.md). Both runners use this module;
// test/fixtures/contract/ holds golden files that the vitest and pytest suites both read.
import type { JobFailure } from './errors.js';
import { FAILURE_TEXT } from './errors.js';
import type { Job, JobProgress } from './job.js';
import { errorRule } from './limits.js';

/** The job's input file, beside the i2v image. */
export const JOB_FILE = 'job.json';

/** The files the job writes into its output folder. */
export const OUTPUT_FILES = {
  progress: 'progress.json',
  video: 'video.mp4',
  poster: 'poster.jpg',
  metadata: 'metadata.json',
  error: 'error.json',
} as const;

/** The clip an Extend job continues, in its input folder; its last frame is the image-to-video input. */
export const PARENT_VIDEO_FILE = 'parent.mp4';

/** The input file name of a Combine job's clip number `index` (0-based, in the order they are joined). */
export const clipFileName = (index: number): string => `clip-${index}.mp4`;

/** job.json's mode for a Combine job: no model runs, the clips are joined with ffmpeg (processing/combine.py). */
export const COMBINE_MODE = 'combine';

/** job.json for a job (snake_case fields, as processing/validation.py validates them). */
export function toJobFile(job: Job): Record<string, unknown> {
  const p = job.params;
  if (p.clips) return { id: job.id, mode: COMBINE_MODE, clips: [...p.clips] };
  return {
    id: job.id,
    mode: p.mode,
    model: p.model,
    prompt: p.prompt,
    negative_prompt: p.negativePrompt,
    seed: p.seed,
    frames: p.frames,
    fps: p.fps,
    steps: p.steps,
    guidance: p.guidance,
    height: p.height,
    width: p.width,
    image_fit: p.imageFit,
    ...(p.image ? { image: p.image } : {}),
    ...(p.parentVideo ? { parent_video: p.parentVideo } : {}),
  };
}

/** job.json's bytes, as the runners' input store receives them. */
export function jobFileBytes(job: Job): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(toJobFile(job), null, 2));
}

/** progress.json → JobProgress; undefined for anything that is not a progress file. */
export function parseProgress(raw: string): JobProgress | undefined {
  try {
    const p = JSON.parse(raw) as Record<string, unknown>;
    if (typeof p !== 'object' || p === null || typeof p.phase !== 'string') return undefined;
    return {
      phase: p.phase,
      step: typeof p.step === 'number' ? p.step : 0,
      total: typeof p.total === 'number' ? p.total : 0,
      etaS: typeof p.eta_s === 'number' ? p.eta_s : null,
      elapsedS: typeof p.elapsed_s === 'number' ? p.elapsed_s : 0,
    };
  } catch {
    return undefined; // a torn read cannot happen (atomic rename), but a foreign file might
  }
}

/**
 * error.json (already parsed) → the failure the user reads; undefined when it names no code. A missing message takes
 * `fallbackMessage` (SageMaker's ExitMessage), then the code's default sentence; a missing `retryable` takes the
 * code's flag in limits.json.
 */
export function parseFailure(errorFile: unknown, fallbackMessage?: string): JobFailure | undefined {
  if (typeof errorFile !== 'object' || errorFile === null) return undefined;
  const e = errorFile as Record<string, unknown>;
  if (typeof e.code !== 'string' || !e.code) return undefined;
  const message = typeof e.message === 'string' && e.message.trim() ? e.message.trim() : (fallbackMessage ?? '').trim();
  return {
    code: e.code,
    message: message || (FAILURE_TEXT[e.code] ?? FAILURE_TEXT.INTERNAL_ERROR!),
    retryable: typeof e.retryable === 'boolean' ? e.retryable : (errorRule(e.code)?.retryable ?? false),
  };
}

/** metadata.json → its object; undefined while it is missing or not (yet) an object. */
export function parseMetadata(raw: string): Record<string, unknown> | undefined {
  try {
    const m = JSON.parse(raw) as unknown;
    return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
