// The ports the core depends on, shaped to the domain. Adapters in bot/local, bot/aws and bot/chat implement them.
import type { Conversation, Job, JobPatch, JobProgress, JobState, Platform, Requester } from './job.js';
import type { JobFailure } from './errors.js';
import type { Actor } from './access.js';
import type { SubmitRequest, Submitted } from './intake.js';
import type { AdminCommand } from './admin.js';
import type { HistoryPage } from './history.js';

/** Cancels a timer; does nothing once it has fired or was cancelled. */
export type CancelTimer = () => void;

/**
 * The time (epoch ms) and timers. The core schedules every back-off, sweep, queue poll, reconcile pass and status
 * edit through it, so tests move time (test/support/fake-clock.ts) instead of waiting for it.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): CancelTimer;
  /** Calls `fn` every `ms`: background upkeep, which on the real clock does not keep the process alive by itself. */
  setInterval(fn: () => void, ms: number): CancelTimer;
}

/** Reading the time only: all the stores and the access guard need. */
export type TimeSource = Pick<Clock, 'now'>;

export interface IdGenerator {
  jobId(): string;
  seed(): number;
}

/** The subset of pino's logger the core uses. */
export interface Logger {
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  debug(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type CreateOutcome = { created: true; job: Job } | { created: false; job: Job };

/** One person on one platform: whose slots a hold counts against. */
export interface SlotOwner {
  readonly platform: Platform;
  readonly userId: string;
}

/** A person's claim on one job slot, taken before anything is posted and consumed when the job is created. */
export interface SlotHold {
  readonly id: string;
  readonly owner: SlotOwner;
  /** Epoch ms. A hold that never became a job (the bot stopped in between) stops counting then. */
  readonly expiresAt: number;
}

export interface SlotLimits {
  /** Live jobs plus unexpired holds one person may have at once. */
  readonly maxLive: number;
  /** Delivered jobs finished at or after `deliveredSince`, plus live jobs and holds, stay below this; 0: no quota. */
  readonly dailyQuota: number;
  readonly deliveredSince: number;
}

export type Reservation =
  | { readonly held: true }
  | {
      readonly held: false;
      readonly reason: 'live' | 'quota';
      /** The owner's live jobs plus unexpired holds. */
      readonly inProgress: number;
      /** Delivered since `deliveredSince` (counted only when there is a quota). */
      readonly delivered: number;
    };

export interface JobStore {
  /**
   * Inserts a new job; if one with the same requestKey exists, returns it instead (created: false).
   * A hold given is consumed (deleted) in the same write, whichever the outcome.
   */
  create(job: Job, hold?: SlotHold): Promise<CreateOutcome>;
  /** The job created with this request key, if any. */
  findByRequestKey(requestKey: string): Promise<Job | undefined>;
  /**
   * Stores `hold` if the owner stays within `limits` with it, as one atomic step: reserves of one owner are
   * serialised, so concurrent requests of one person can never together pass a limit.
   */
  reserve(hold: SlotHold, limits: SlotLimits): Promise<Reservation>;
  /** Drops a hold that will not become a job; a hold already consumed or expired is fine. */
  release(hold: SlotHold): Promise<void>;
  get(id: string): Promise<Job | undefined>;
  /**
   * Compare-and-set: moves the job to `to` only if its state is one of `from` (and, when given,
   * its version equals `expectVersion`). Returns the new job, or undefined if the condition failed.
   */
  transition(
    id: string,
    from: readonly JobState[],
    to: JobState,
    patch?: JobPatch,
    expectVersion?: number,
  ): Promise<Job | undefined>;
  /** Writes progress while the job is in one of `states`; returns false if it is not. */
  saveProgress(id: string, states: readonly JobState[], progress: JobProgress): Promise<boolean>;
  /** Newest first. */
  listByUser(platform: Platform, userId: string, limit: number): Promise<Job[]>;
  listByState(states: readonly JobState[]): Promise<Job[]>;
  countDeliveredSince(platform: Platform, userId: string, sinceMs: number): Promise<number>;
  /** The person's delivered jobs, newest (by creation) first, up to `limit`: their video history. */
  listDeliveredByUser(platform: Platform, userId: string, limit: number): Promise<Job[]>;
  /** The delivered jobs of one conversation (same platform, channel and thread), oldest (by creation) first, up to `limit`. */
  listDeliveredInConversation(conversation: ConversationKey, limit: number): Promise<Job[]>;
}

/** Where jobs were asked: a Slack thread, a Discord channel or thread, a terminal session. */
export type ConversationKey = Pick<Conversation, 'platform' | 'channelId' | 'threadId'>;

/** Where a moderation check is made: the prompt as typed (before anything runs), or the enhancer's rewrite of it. */
export interface ModerationContext {
  readonly stage: 'prompt' | 'enhanced';
  readonly requester?: Requester;
}

export type ModerationVerdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** For the log and the operator (which rule matched), never shown to the person. */
      readonly reason: string;
      /** What the person reads, when the moderator has its own (a guardrail's configured message). */
      readonly message?: string;
    };

/** Checks text before any GPU work or enhancement (the blocked-terms list; Bedrock Guardrails on AWS). */
export interface Moderator {
  readonly name: string;
  check(text: string, context: ModerationContext): Promise<ModerationVerdict>;
}

/** What admins set about one person at run time. */
export interface UserStanding {
  readonly banned: boolean;
  /** Epoch ms of the last quota reset: delivered videos before it no longer count against the daily quota. */
  readonly quotaResetAt?: number;
  /** Prompts of theirs that moderation refused. */
  readonly refusals: number;
}

/**
 * Moderation and administration settings that admins change at run time, kept beside the jobs (SQLite or
 * DynamoDB), so every replica of the bot sees a change at once.
 */
export interface SettingsStore {
  /** The blocked terms, normalised (see moderation.ts), sorted. */
  blockedTerms(): Promise<string[]>;
  /** Adds a normalised term; false when it was already there. */
  addBlockedTerm(term: string): Promise<boolean>;
  /** Removes a normalised term; false when it was not there. */
  removeBlockedTerm(term: string): Promise<boolean>;
  standing(owner: SlotOwner): Promise<UserStanding>;
  setBanned(owner: SlotOwner, banned: boolean): Promise<void>;
  resetQuota(owner: SlotOwner, at: number): Promise<void>;
  /** Counts one refused prompt: in the person's standing (when known) and in the total. */
  recordRefusal(owner?: SlotOwner): Promise<void>;
  /** Refused prompts, all people together. */
  refusalCount(): Promise<number>;
}

/** Job inputs and outputs. Names are plain file names inside a job's input or output folder. */
export interface ObjectStore {
  putInput(jobId: string, name: string, data: Uint8Array): Promise<void>;
  getInput(jobId: string, name: string): Promise<Uint8Array | undefined>;
  getOutput(jobId: string, name: string): Promise<Uint8Array | undefined>;
  /** Size in bytes, or undefined if missing. */
  statOutput(jobId: string, name: string): Promise<number | undefined>;
  /** A time-limited link for people to download an output, where the backend has one. */
  outputLink(jobId: string, name: string, ttlSeconds: number): Promise<string | undefined>;
}

/**
 * What the processing job reports, as seen by the bot. `ref` names the attempt (the runner's ref from submit);
 * runners that retry under new names set it, so a late event of an earlier attempt is recognised and ignored.
 */
export type RunnerEvent = { readonly ref?: string } & (
  | { readonly jobId: string; readonly kind: 'started' }
  | { readonly jobId: string; readonly kind: 'progress'; readonly progress: JobProgress }
  | { readonly jobId: string; readonly kind: 'completed'; readonly metadata: Record<string, unknown> }
  | { readonly jobId: string; readonly kind: 'failed'; readonly failure: JobFailure }
  | { readonly jobId: string; readonly kind: 'stopped' }
);

/** What the runner knows about a job after a restart. */
export type RunnerStatus =
  | { readonly status: 'unknown' }
  | { readonly status: 'running' }
  | { readonly status: 'completed'; readonly metadata: Record<string, unknown> }
  | { readonly status: 'failed'; readonly failure: JobFailure }
  | { readonly status: 'stopped' };

export interface Runner {
  /** The runner's own limit on one attempt's run time; the service stops a job that outlives it (plus a grace). */
  readonly maxRuntimeMs?: number;
  /**
   * Starts the processing job. Idempotent per job id: a second submit of the same job is not an error.
   * Throws RunnerSubmitError when the backend refuses (permanent) or cannot be reached (transient).
   */
  submit(job: Job): Promise<{ ref: string }>;
  /** Stops the job wherever it is: waiting, starting (before or during its launch) or running. */
  cancel(job: Job): Promise<void>;
  /** What the runner knows about the job now (after a restart, or when its events went quiet). */
  describe(job: Job): Promise<RunnerStatus>;
  /** Registers the one consumer of runner events; the runner starts delivering them. */
  start(onEvent: (event: RunnerEvent) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export interface Enhancer {
  readonly name: string;
  /** Returns the enhanced prompt. Throws UserFacingError(ENHANCER_*) with a readable message. */
  enhance(prompt: string): Promise<string>;
}

/** A finished video, ready to be posted. */
export interface VideoFile {
  readonly fileName: string;
  readonly sizeBytes: number;
  read(): Promise<Uint8Array>;
  readPoster(): Promise<Uint8Array | undefined>;
  /** A time-limited download link, where the backend has one. */
  link(ttlSeconds: number): Promise<string | undefined>;
  /**
   * postVideo calls this right before the request that makes the post visible. False: another process took this
   * delivery over (it found the upload cut off), so post nothing and return; that process posts the video.
   */
  confirm(): Promise<boolean>;
}

/** What a chat adapter shows for a job; built by the core (status.ts), rendered by the adapter. */
export interface StatusView {
  readonly jobId: string;
  readonly state: JobState;
  readonly headline: string;
  readonly detail?: string;
  readonly progress?: { readonly step: number; readonly total: number; readonly bar: string; readonly etaS: number | null };
  readonly queuePosition?: number;
  readonly final: boolean;
  readonly canCancel: boolean;
  readonly canRetry: boolean;
  /** Set when the job continues (extend) or joins (combine) earlier videos: a joined video offers no Regenerate or Extend. */
  readonly builtFrom?: 'extend' | 'combine';
}

/** At most `edits` status edits in any `windowMs`. */
export interface EditBudget {
  readonly edits: number;
  readonly windowMs: number;
}

/** One per platform. The core calls it; it never calls back into the SDK-free core except through JobService. */
export interface ChatSurface {
  readonly platform: Platform;
  /**
   * The platform's limits on status edits, shared by every job in one channel and in the whole workspace: the core
   * sends edits within them (final states first, only the newest view of each job). None: no shared limit.
   */
  readonly editBudgets?: { readonly perChannel?: EditBudget; readonly perWorkspace?: EditBudget };
  /**
   * Posts the status message of a job about to be created, where `job.conversation` (as the adapter planned it)
   * says, and returns that conversation with the message's id (and thread) filled in. Called only after the
   * request passed every check and holds its slot. Throws when it cannot post there.
   */
  announce(job: Job): Promise<Conversation>;
  /** Withdraws a status message announce() posted, when no job came of it (a duplicate request, a late refusal). */
  retract(conversation: Conversation): Promise<void>;
  /** Show the job's current status (edit the status message in place). */
  showStatus(job: Job, view: StatusView): Promise<void>;
  /**
   * Post the finished video into the job's conversation, tagged with the job's id so findDelivered can see it, and
   * as one idempotent request where the platform has them. Called once per job, and again only for a post a crash
   * cut off that findDelivered did not find.
   */
  postVideo(job: Job, video: VideoFile): Promise<void>;
  /**
   * Whether the job's video is already in its conversation: a post that reached the platform just before the bot
   * was cut off (kill -9, a lost connection) and so was never marked delivered. Surfaces without it cannot tell,
   * and a cut-off post of theirs is never posted again.
   */
  findDelivered?(job: Job): Promise<boolean>;
}

/** A prompt rewritten by the enhancer, with what the default model will read of it. */
export interface EnhancedPrompt {
  readonly text: string;
  readonly tokens: number;
  readonly limit: number;
  /** Set when the prompt is longer than the model reads; says so in one sentence. */
  readonly warning?: string;
}

/**
 * What chat adapters, the CLI and main.ts call on the core (service.ts builds it). Every refusal is a
 * UserFacingError whose message is the sentence to show the person.
 */
export interface JobService {
  /** Starts taking events from the runner and running the queue (settling first what a restart left unfinished). */
  start(): Promise<void>;
  /** Stops starting jobs and waits for the work under way; jobs on the runner keep running. */
  stop(): Promise<void>;
  /** The one door for a new video and for Retry, Regenerate and Edit prompt (intake.ts). */
  submit(request: SubmitRequest): Promise<Submitted>;
  /** Cancels a live job, by its requester or an admin. */
  cancel(jobId: string, by: Actor): Promise<Job>;
  get(jobId: string): Promise<Job | undefined>;
  /** The person's jobs, newest first. */
  list(actor: Actor, limit?: number): Promise<Job[]>;
  /** What a chat shows for the job now (with its place in the queue). */
  describe(job: Job): Promise<StatusView>;
  /** Rewrites a prompt with the enhancer; refuses when none is set up. */
  enhance(prompt: string): Promise<EnhancedPrompt>;
  hasEnhancer(): boolean;
  isAdmin(actor: Actor): boolean;
  /** Runs an admin command (admin.ts) and returns the private reply; non-admins are refused. */
  admin(by: Actor, command: AdminCommand): Promise<string>;
  /** A page of a person's videos (history.ts): the caller's own, or anyone's for an admin. */
  videos(by: Actor, options?: { readonly owner?: SlotOwner; readonly page?: number }): Promise<HistoryPage>;
}

export type { Conversation };
