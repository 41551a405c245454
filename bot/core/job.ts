// The job model and its state machine.
import type { Mode } from './presets.js';
import type { JobFailure } from './errors.js';

export const JOB_STATES = [
  'queued',
  'enhancing',
  'submitting',
  'starting',
  'running',
  'encoding',
  'uploading',
  'delivered',
  'failed',
  'cancelled',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINAL_STATES: readonly JobState[] = ['delivered', 'failed', 'cancelled'];
export const LIVE_STATES: readonly JobState[] = JOB_STATES.filter((s) => !FINAL_STATES.includes(s));
/** States in which a GPU job may exist in the runner. */
export const RUNNER_STATES: readonly JobState[] = ['submitting', 'starting', 'running', 'encoding'];

/** Which state may follow which. `failed` and `cancelled` may follow any live state. */
const NEXT: Record<JobState, readonly JobState[]> = {
  queued: ['enhancing', 'submitting'],
  enhancing: ['submitting', 'queued'],
  submitting: ['starting', 'running', 'encoding', 'uploading', 'queued'],
  starting: ['running', 'encoding', 'uploading', 'queued'],
  running: ['encoding', 'uploading', 'queued'],
  encoding: ['uploading', 'queued'],
  uploading: ['delivered'],
  delivered: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: JobState, to: JobState): boolean {
  if (FINAL_STATES.includes(from)) return false;
  if (to === 'failed' || to === 'cancelled') return true;
  return NEXT[from].includes(to);
}

export function isFinal(state: JobState): boolean {
  return FINAL_STATES.includes(state);
}

export type Platform = 'shell' | 'cli' | 'slack' | 'discord' | 'test';

export interface Requester {
  readonly platform: Platform;
  readonly userId: string;
  readonly displayName?: string;
}

/** Where the job's messages go. Adapters keep their own ids here (channel, thread, status message). */
export interface Conversation {
  readonly platform: Platform;
  readonly channelId: string;
  readonly threadId?: string;
  readonly statusMessageId?: string;
  readonly extra?: Readonly<Record<string, string>>;
}

/** Everything the processing job needs, after validation against the preset. */
export interface JobParams {
  readonly mode: Mode;
  readonly model: string;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: number;
  readonly frames: number;
  readonly fps: number;
  readonly steps: number;
  readonly guidance: number;
  readonly height: number;
  readonly width: number;
  readonly imageFit: 'crop' | 'pad';
  /** File name of the input image (i2v), inside the job's input folder. */
  readonly image?: string;
  /** Extend: file name of the clip to continue (its last frame is the i2v image), inside the job's input folder. */
  readonly parentVideo?: string;
  /** Combine: file names of the clips to join, in order, inside the job's input folder (no model runs). */
  readonly clips?: readonly string[];
}

/** How a job builds on earlier jobs' videos (extend.ts, combine.ts); absent for a video made from a prompt. */
export type JobSource =
  | {
      readonly kind: 'extend';
      readonly parentId: string;
      /** This job's place in its chain of extensions: 1 for the first continuation of a clip. */
      readonly extensions: number;
    }
  | { readonly kind: 'combine'; readonly clipIds: readonly string[] };

export interface JobProgress {
  readonly phase: string;
  readonly step: number;
  readonly total: number;
  readonly etaS: number | null;
  readonly elapsedS: number;
}

export interface JobResult {
  readonly video: string;
  readonly poster?: string;
  readonly sizeBytes: number;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface Job {
  readonly id: string;
  readonly state: JobState;
  /** Incremented on every write; stores compare-and-set on it and on the state. */
  readonly version: number;
  readonly params: JobParams;
  /** The prompt as the user typed it, before enhancement. */
  readonly originalPrompt: string;
  readonly enhance: boolean;
  readonly requester: Requester;
  readonly conversation: Conversation;
  /** Set when the job continues (extend) or joins (combine) earlier jobs' videos. */
  readonly source?: JobSource;
  /** Dedupe key from the platform (Slack trigger/retry, Discord interaction id). */
  readonly requestKey?: string;
  readonly attempts: number;
  readonly runnerRef?: string;
  readonly progress?: JobProgress;
  readonly result?: JobResult;
  readonly failure?: JobFailure;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the runner accepted the current attempt; the time limit counts from here. */
  readonly startedAt?: number;
  readonly finishedAt?: number;
}

/** Fields a transition may change. */
export type JobPatch = Partial<
  Pick<Job, 'params' | 'attempts' | 'runnerRef' | 'progress' | 'result' | 'failure' | 'conversation' | 'startedAt' | 'finishedAt'>
>;

/** The job after a transition: what every JobStore writes when its compare-and-set succeeds. */
export function applyTransition(job: Job, to: JobState, patch: JobPatch | undefined, now: number): Job {
  return { ...job, ...patch, state: to, version: job.version + 1, updatedAt: now };
}
