// Model presets and their rules, read from processing/presets.json (shared with the Python job).
import presetsFile from '../../processing/presets.json' with { type: 'json' };

export type Mode = 't2v' | 'i2v';

export interface Range {
  readonly min: number;
  readonly max: number;
  readonly default: number;
}

export interface Preset {
  readonly id: string;
  readonly label: string;
  readonly hfId: string | null;
  /** The model family: which module in processing/families/ builds and calls the pipeline ("cogvideox", "wan"). */
  readonly family: string;
  /** The family's generation ("1.0", "1.5", "2.2"): a text-to-video preset and its image-to-video sibling share it. */
  readonly generation: string;
  readonly modes: readonly Mode[];
  /** [height, width] pairs. */
  readonly sizes: readonly (readonly [number, number])[];
  readonly frames: Range & { readonly step: number };
  readonly fps: number;
  readonly steps: Range;
  readonly guidance: Range;
  readonly dtype: string;
  readonly maxTextTokens: number;
  readonly minGpuGib: number;
  readonly testOnly: boolean;
  readonly license: string;
  /** The family's recommended negative prompt; the job uses it when a job gives none. */
  readonly negativePrompt: string;
}

interface RawPreset {
  label: string;
  hf_id: string | null;
  family: string;
  generation: string;
  modes: string[];
  sizes: number[][];
  frames: { step: number; min: number; max: number; default: number };
  fps: number;
  steps: Range;
  guidance: Range;
  dtype: string;
  max_text_tokens: number;
  min_gpu_gib: number;
  test_only: boolean;
  license?: string;
  negative_prompt?: string;
}

const raw = presetsFile as unknown as { default: string; presets: Record<string, RawPreset> };

export const PRESETS: ReadonlyMap<string, Preset> = new Map(
  Object.entries(raw.presets).map(([id, p]) => [
    id,
    {
      id,
      label: p.label,
      hfId: p.hf_id,
      family: p.family,
      generation: p.generation,
      modes: p.modes as Mode[],
      sizes: p.sizes.map(([h, w]) => [h!, w!] as const),
      frames: p.frames,
      fps: p.fps,
      steps: p.steps,
      guidance: p.guidance,
      dtype: p.dtype,
      maxTextTokens: p.max_text_tokens,
      minGpuGib: p.min_gpu_gib,
      testOnly: p.test_only,
      license: p.license ?? '',
      negativePrompt: p.negative_prompt ?? '',
    },
  ]),
);

export const PRESET_IDS: readonly string[] = [...PRESETS.keys()];
export const DEFAULT_PRESET_ID: string = raw.default;
export const TEST_PRESET_ID = 'tiny-random';

export function getPreset(id: string): Preset | undefined {
  return PRESETS.get(id);
}

/** True when `frames` fits the preset's latent layout (step·N+1 within min..max). */
export function framesAllowed(preset: Preset, frames: number): boolean {
  const f = preset.frames;
  return Number.isInteger(frames) && frames >= f.min && frames <= f.max && (frames - 1) % f.step === 0;
}

/** The allowed frame counts, for messages: "9, 17, 25, 33, 41, 49". */
export function allowedFrames(preset: Preset): number[] {
  const out: number[] = [];
  for (let n = preset.frames.min; n <= preset.frames.max; n += preset.frames.step) out.push(n);
  return out;
}

/** The nearest valid frame count for a duration in seconds (rounded to the preset's frame rule). */
export function framesForSeconds(preset: Preset, seconds: number): number {
  const wanted = seconds * preset.fps + 1;
  const candidates = allowedFrames(preset);
  return candidates.reduce((best, n) => (Math.abs(n - wanted) < Math.abs(best - wanted) ? n : best));
}

/** The image-to-video preset of the same family and generation, for a text-to-video preset chosen with an image. */
export function imageToVideoPresetFor(preset: Preset): Preset | undefined {
  if (preset.modes.includes('i2v')) return preset;
  return [...PRESETS.values()].find(
    (p) => p.family === preset.family && p.generation === preset.generation && !p.testOnly && p.modes.includes('i2v'),
  );
}
