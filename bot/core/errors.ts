// Typed, coded errors: adapters turn the code into the sentence a user reads.
import { ERROR_CODES, type ErrorCode } from './limits.js';

/** Every code, its exit code, retryable flag and default sentence: processing/limits.json (bot/core/limits.ts). */
export type { ErrorCode } from './limits.js';

/** An error whose message is written for the person in the chat. */
export class UserFacingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UserFacingError';
  }
}

/** Bad command text or flags. The message says what is allowed. */
export class InvalidCommandError extends UserFacingError {
  constructor(message: string) {
    super('INVALID_COMMAND', message);
    this.name = 'InvalidCommandError';
  }
}

/**
 * A runner could not start a job. `permanent`: trying again cannot help until someone changes something (a quota,
 * the configuration, a permission, the image), so the job fails at once. Otherwise (throttling, a 5xx answer, the
 * network) the attempt counts and the job is tried again after a back-off. `message` is for the person in the chat;
 * `detail` is for the operator's log (the API's own error name and text), never shown in a chat.
 */
export class RunnerSubmitError extends Error {
  constructor(
    readonly code: 'NO_GPU_QUOTA' | 'RUNNER_REJECTED' | 'RUNNER_UNAVAILABLE',
    message: string,
    readonly permanent: boolean,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RunnerSubmitError';
  }
}

/** Failure reasons a job can end with, and whether retrying can help. */
export interface JobFailure {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
}

/** Default sentences for failures whose source gave no readable message (limits.json's `message`). */
export const FAILURE_TEXT: Readonly<Record<string, string>> = Object.fromEntries(
  [...ERROR_CODES].flatMap(([code, rule]) => (rule.message ? [[code, rule.message]] : [])),
);

export function failureMessage(code: string, message?: string): string {
  return message && message.trim() ? message.trim() : (FAILURE_TEXT[code] ?? FAILURE_TEXT.INTERNAL_ERROR!);
}
