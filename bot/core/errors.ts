// Typed, coded errors: adapters turn the code into the sentence a user reads.

export type ErrorCode =
  | 'INVALID_COMMAND'
  | 'INVALID_IMAGE'
  | 'NOT_ALLOWED'
  | 'RATE_LIMITED'
  | 'DUPLICATE_REQUEST'
  | 'QUOTA_EXCEEDED'
  | 'JOB_NOT_FOUND'
  | 'NOT_CANCELLABLE'
  | 'ENHANCER_NOT_CONFIGURED'
  | 'ENHANCER_FAILED'
  | 'INVALID_JOB'
  | 'UNKNOWN_MODEL'
  | 'MODEL_NOT_AVAILABLE'
  | 'GPU_OUT_OF_MEMORY'
  | 'CAPACITY'
  | 'TIMEOUT'
  | 'DELIVERY_FAILED'
  | 'DELIVERY_INTERRUPTED'
  | 'INTERRUPTED'
  | 'NO_GPU_QUOTA'
  | 'RUNNER_REJECTED'
  | 'RUNNER_UNAVAILABLE'
  | 'INTERNAL_ERROR';

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

/** Default sentences for failures whose source gave no readable message. */
export const FAILURE_TEXT: Record<string, string> = {
  GPU_OUT_OF_MEMORY: 'The GPU ran out of memory. Try fewer frames or a smaller model.',
  CAPACITY: 'No GPU capacity was available right now. Try again in a few minutes.',
  TIMEOUT: 'The job took longer than the time limit and was stopped.',
  MODEL_NOT_AVAILABLE: 'The model weights are not installed on the GPU backend. Ask an admin to stage them.',
  DELIVERY_FAILED: 'The video was made but could not be posted here.',
  DELIVERY_INTERRUPTED: 'The bot restarted while posting your video, so it may not have arrived. Use Retry to make it again.',
  INTERRUPTED: 'The job was interrupted by a restart and could not be resumed.',
  NO_GPU_QUOTA: 'This workspace has no GPU quota for the job yet; an admin must request it.',
  RUNNER_REJECTED: 'The GPU backend refused to start the job; an admin must fix the bot\'s setup (details are in its log).',
  RUNNER_UNAVAILABLE: 'The GPU backend could not be reached, so the job could not start. Try again in a few minutes.',
  INTERNAL_ERROR: 'Something went wrong on our side. Try again; if it keeps happening, tell an admin.',
};

export function failureMessage(code: string, message?: string): string {
  return message && message.trim() ? message.trim() : (FAILURE_TEXT[code] ?? FAILURE_TEXT.INTERNAL_ERROR!);
}
