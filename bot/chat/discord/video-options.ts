// The /video command's options, one row each: the definition Discord gets (bounds and choices from the presets and
// the shared limits) and the VideoRequest field the answer fills, so the two cannot disagree.
import { ApplicationCommandOptionType, type APIApplicationCommandBasicOption, type ChatInputCommandInteraction } from 'discord.js';
import type { VideoRequest } from '../../core/command.js';
import { MAX_PROMPT_CHARS, SEED_RANGE } from '../../core/limits.js';
import { DEFAULT_PRESET_ID, PRESETS, getPreset, type Preset } from '../../core/presets.js';
import { IMAGE_FILE_TYPES } from './images.js';

type Kind = 'string' | 'integer' | 'number' | 'boolean' | 'attachment';

const TYPES = {
  string: ApplicationCommandOptionType.String,
  integer: ApplicationCommandOptionType.Integer,
  number: ApplicationCommandOptionType.Number,
  boolean: ApplicationCommandOptionType.Boolean,
  attachment: ApplicationCommandOptionType.Attachment,
} as const;

export interface VideoOption {
  /** The option's name, which is also the VideoRequest field it fills (attachments fill none: the image is downloaded). */
  readonly name: string;
  readonly kind: Kind;
  readonly description: string;
  readonly required?: boolean;
  readonly bounds?: { readonly min: number; readonly max: number };
  readonly maxLength?: number;
  readonly choices?: readonly { readonly name: string; readonly value: string }[];
  /** Attachments: the file types Discord's picker offers. */
  readonly fileTypes?: readonly string[];
}

/** The widest range the presets allow together: Discord refuses what no preset takes; the core checks the chosen preset's own rule. */
function span(of: (preset: Preset) => { readonly min: number; readonly max: number }): { min: number; max: number } {
  const ranges = [...PRESETS.values()].map(of);
  return { min: Math.min(...ranges.map((r) => r.min)), max: Math.max(...ranges.map((r) => r.max)) };
}

const DEFAULTS = getPreset(DEFAULT_PRESET_ID)!;
/** "4N+1, 8N+1 or 16N+1": the frame rules of the presets there are. */
const FRAME_RULES = [...new Set([...PRESETS.values()].map((p) => p.frames.step))].sort((a, b) => a - b).map((step) => `${step}N+1`);
const oneOf = (items: string[]) => (items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : (items[0] ?? ''));

/** Discord takes at most 25 choices, each name at most 100 characters. */
const MODEL_CHOICES = [...PRESETS.values()].slice(0, 25).map((p) => ({ name: p.label.slice(0, 100), value: p.id }));

/** In the order Discord shows them (required ones first, as Discord requires). */
export const VIDEO_OPTIONS: readonly VideoOption[] = [
  { name: 'prompt', kind: 'string', description: 'What should happen in the video', required: true, maxLength: MAX_PROMPT_CHARS },
  { name: 'image', kind: 'attachment', description: 'An image (PNG, JPEG or WebP) to animate', fileTypes: IMAGE_FILE_TYPES },
  { name: 'model', kind: 'string', description: 'Model preset', choices: MODEL_CHOICES },
  { name: 'seed', kind: 'integer', description: 'Seed for a repeatable result', bounds: SEED_RANGE },
  { name: 'frames', kind: 'integer', description: `Number of frames (${oneOf(FRAME_RULES)}, by model)`, bounds: span((p) => p.frames) },
  { name: 'steps', kind: 'integer', description: `Denoising steps (more is slower, often better; default ${DEFAULTS.steps.default})`, bounds: span((p) => p.steps) },
  { name: 'guidance', kind: 'number', description: `How closely to follow the prompt (default ${DEFAULTS.guidance.default})`, bounds: span((p) => p.guidance) },
  { name: 'negative', kind: 'string', description: 'What to avoid, e.g. "blurry, low quality"', maxLength: MAX_PROMPT_CHARS },
  { name: 'enhance', kind: 'boolean', description: 'Rewrite the prompt with the prompt enhancer first' },
];

/** The rows as Discord's command JSON. */
export function videoOptionDefinitions(): APIApplicationCommandBasicOption[] {
  return VIDEO_OPTIONS.map((o) => ({
    type: TYPES[o.kind],
    name: o.name,
    description: o.description.slice(0, 100),
    ...(o.required ? { required: true } : {}),
    ...(o.maxLength !== undefined ? { max_length: o.maxLength } : {}),
    ...(o.bounds ? { min_value: o.bounds.min, max_value: o.bounds.max } : {}),
    ...(o.choices ? { choices: o.choices.map((c) => ({ ...c })) } : {}),
    ...(o.fileTypes ? { file_types: [...o.fileTypes] } : {}),
  })) as APIApplicationCommandBasicOption[];
}

/** The request a /video interaction asks for: every option the person filled in (the image is read separately). */
export function videoRequestFrom(options: ChatInputCommandInteraction['options']): VideoRequest {
  const request: Record<string, unknown> = {};
  for (const o of VIDEO_OPTIONS) {
    if (o.kind === 'attachment') continue;
    const value = options.get(o.name, o.required ?? false)?.value;
    if (value !== undefined && value !== null) request[o.name] = value;
  }
  return request as unknown as VideoRequest;
}
