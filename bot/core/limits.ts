// Limits and error codes shared with the Python job, read from processing/limits.json (processing/limits.py reads it too).
import limitsFile from '../../processing/limits.json' with { type: 'json' };

export interface ErrorCodeRule {
  /** The job's exit status for this code; null for the bot's own codes. */
  readonly exitCode: number | null;
  /** A Retry can help (the default when the failure's source does not say). */
  readonly retryable: boolean;
  /** The bot tries the job again by itself after this failure (when the failure says retryable). */
  readonly autoRetry: boolean;
  /** The sentence shown when the source of a failure gave none. */
  readonly message: string | null;
}

type RawErrors = typeof limitsFile.errors;
export type ErrorCode = keyof RawErrors;

export const MAX_PROMPT_CHARS: number = limitsFile.prompt.max_chars;
export const SEED_RANGE: { readonly min: number; readonly max: number } = { min: limitsFile.seed.min, max: limitsFile.seed.max };
export const IMAGE_LIMITS: { readonly maxBytes: number; readonly maxPixels: number } = {
  maxBytes: limitsFile.image.max_bytes,
  maxPixels: limitsFile.image.max_pixels,
};

export const ERROR_CODES: ReadonlyMap<string, ErrorCodeRule> = new Map(
  Object.entries(limitsFile.errors as Record<string, { exit_code: number | null; retryable: boolean; auto_retry: boolean; message: string | null }>).map(
    ([code, e]) => [code, { exitCode: e.exit_code, retryable: e.retryable, autoRetry: e.auto_retry, message: e.message }],
  ),
);

export function errorRule(code: string): ErrorCodeRule | undefined {
  return ERROR_CODES.get(code);
}

/** A seed drawn uniformly from the whole shared range: the one place the bot picks a default seed. */
export function randomSeed(randomInt: (min: number, maxExclusive: number) => number): number {
  return randomInt(SEED_RANGE.min, SEED_RANGE.max + 1);
}
