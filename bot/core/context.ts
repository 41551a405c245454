// What every stage of the job service shares: its dependencies and limits, the status edits, and the state moves
// (compare-and-set transitions) that show the new state and wake the queue.
import { OPEN_POLICY, createAccessGuard, type AccessPolicy } from './access.js';
import type { JobFailure } from './errors.js';
import { UserFacingError } from './errors.js';
import { DEFAULT_MAX_EXTENSIONS } from './extend.js';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from './image.js';
import type { Job, JobPatch, JobState } from './job.js';
import { LIVE_STATES, canTransition, isFinal } from './job.js';
import type { ChatSurface, Clock, Enhancer, IdGenerator, JobStore, Logger, Moderator, ObjectStore, Runner, SettingsStore } from './ports.js';
import { DEFAULT_RECONCILE_LIMITS, type ReconcileLimits } from './reconcile.js';
import type { JobScope } from './scope.js';
import { describeJob } from './status.js';
import { EditThrottle, type BudgetLanes } from './throttle.js';

export interface JobServiceLimits extends ReconcileLimits {
  readonly maxConcurrentJobs: number;
  readonly maxAttempts: number;
  /** Back-off before retry n is retryBackoffMs·2^(n-1), at most maxRetryBackoffMs. */
  readonly retryBackoffMs: number;
  readonly maxRetryBackoffMs: number;
  readonly imageLimits: ImageLimits;
  readonly statusIntervalMs: number;
  /** Extensions one video may have in a row (extend.ts; VIDEOBOT_MAX_EXTENSIONS). */
  readonly maxExtensions: number;
}

export interface JobServiceDeps {
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly runner: Runner;
  readonly enhancer?: Enhancer;
  readonly chats: readonly ChatSurface[];
  /** Time and timers: back-offs, the upload sweep, queue polls and reconcile passes run on it. */
  readonly clock: Clock;
  /**
   * Paces status edits (default: `clock`). The platforms count edits in real time: a test that holds `clock` still
   * while a real chat adapter edits against its budgets gives the real clock here.
   */
  readonly editClock?: Clock;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  readonly defaultModel: string;
  readonly access?: Partial<AccessPolicy>;
  readonly limits?: Partial<JobServiceLimits>;
  /** How to tell someone where to configure an enhancer (differs between local and AWS). */
  readonly enhancerSetupHint?: string;
  readonly presignTtlSeconds?: number;
  /** Refuses, at submit, a model this machine cannot run (a GPU model where there is no GPU), with a UserFacingError. */
  readonly checkModel?: (model: string) => void;
  /** Which jobs this process starts and settles, and the lease on a queue shared with other processes (scope.ts). */
  readonly scope?: JobScope;
  /** Blocked terms, bans and quota resets that admins change at run time; turns on moderation and /admin (moderation.ts). */
  readonly settings?: SettingsStore;
  /** Moderators after the blocked-terms list (Bedrock Guardrails on AWS). */
  readonly moderators?: readonly Moderator[];
}

export const DEFAULT_LIMITS: JobServiceLimits = {
  maxConcurrentJobs: 1,
  maxAttempts: 3,
  retryBackoffMs: 30_000,
  maxRetryBackoffMs: 5 * 60_000,
  ...DEFAULT_RECONCILE_LIMITS,
  imageLimits: DEFAULT_IMAGE_LIMITS,
  statusIntervalMs: 1500,
  maxExtensions: DEFAULT_MAX_EXTENSIONS,
};

export interface ServiceContext {
  readonly deps: JobServiceDeps;
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly runner: Runner;
  readonly chats: ReadonlyMap<string, ChatSurface>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly limits: JobServiceLimits;
  readonly guard: ReturnType<typeof createAccessGuard>;
  /** Whether this process starts and settles the job (scope.ts; default: every job). */
  readonly owns: (job: Job) => boolean;
  /** Moves a job by compare-and-set from `from` (default: its state) and shows the new state; undefined if it had moved on. */
  move(job: Job, to: JobState, patch?: JobPatch, from?: readonly JobState[]): Promise<Job | undefined>;
  /** Fails a live job with `failure`, shows it, and wakes the queue; undefined if the job was no longer live. */
  fail(job: Job, failure: JobFailure): Promise<Job | undefined>;
  /** Queues the job's status edit (within the platform's budgets); a final state is sent before this resolves. */
  showStatus(job: Job, urgent?: boolean): Promise<void>;
  queuePosition(job: Job): Promise<number>;
  mustGet(jobId: string): Promise<Job>;
  /** Starts queued jobs while there is capacity (dispatch.ts). */
  pump(): void;
}

/** `pump` is dispatch's, built after the context: it is called only once the service runs. */
export function createServiceContext(deps: JobServiceDeps, pump: () => void): ServiceContext {
  const { store, clock } = deps;
  const log = deps.logger.child({ component: 'jobs' });
  const limits: JobServiceLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const chats = new Map(deps.chats.map((c) => [c.platform, c]));
  const statusEdits = new EditThrottle<Job>(
    async (_jobId, job) => {
      const chat = chats.get(job.conversation.platform);
      if (!chat) return;
      const position = job.state === 'queued' ? await queuePosition(job) : undefined;
      await chat.showStatus(job, describeJob(job, position));
    },
    {
      minIntervalMs: limits.statusIntervalMs,
      clock: deps.editClock ?? clock,
      onError: (jobId, error) => log.warn({ jobId, err: error }, 'status update failed'),
      // One budget per channel and per workspace, shared by every job there (each surface says its platform's limits).
      lanesOf: (job) => editLanes(chats.get(job.conversation.platform), job),
      isFinal: (job) => isFinal(job.state),
      onSettled: (jobId, edits) => log.info({ jobId, statusEdits: edits }, 'status edits for job'),
    },
  );

  async function queuePosition(job: Job): Promise<number> {
    const queued = await store.listByState(['queued']);
    return queued.filter((j) => j.createdAt < job.createdAt || (j.createdAt === job.createdAt && j.id <= job.id)).length;
  }

  async function showStatus(job: Job, urgent = false): Promise<void> {
    await statusEdits.push(job.id, job, urgent);
    if (isFinal(job.state)) await statusEdits.flush(job.id);
  }

  async function move(job: Job, to: JobState, patch?: JobPatch, from?: readonly JobState[]): Promise<Job | undefined> {
    const sources = from ?? [job.state];
    if (!sources.every((s) => canTransition(s, to))) throw new Error(`bug: ${sources.join('|')} → ${to} is not a transition`);
    const next = await store.transition(job.id, sources, to, patch);
    if (next) {
      log.debug({ jobId: job.id, from: job.state, to }, 'transition');
      void showStatus(next, isFinal(to) || to === 'uploading');
    }
    return next;
  }

  async function fail(job: Job, failure: JobFailure): Promise<Job | undefined> {
    const live = LIVE_STATES.filter((s) => s !== 'uploading' || failure.code.startsWith('DELIVERY'));
    log.warn({ jobId: job.id, code: failure.code, reason: failure.message }, 'job failed');
    const failed = await store.transition(job.id, live, 'failed', { failure, finishedAt: clock.now() });
    if (failed) void showStatus(failed, true);
    pump();
    return failed;
  }

  async function mustGet(jobId: string): Promise<Job> {
    const job = await store.get(jobId);
    if (!job) throw new UserFacingError('JOB_NOT_FOUND', `There is no job ${jobId}.`);
    return job;
  }

  const owns = deps.scope?.owns ?? (() => true);
  return {
    deps,
    store,
    objects: deps.objects,
    runner: deps.runner,
    chats,
    clock,
    log,
    limits,
    guard: createAccessGuard({ ...OPEN_POLICY, ...deps.access }, store, clock, deps.settings),
    owns,
    move,
    fail,
    showStatus,
    queuePosition,
    mustGet,
    pump,
  };
}

/** The shared edit budgets a status edit of `job` draws on: its channel's and its workspace's, as its surface says. */
function editLanes(chat: ChatSurface | undefined, job: Job): BudgetLanes {
  const budgets = chat?.editBudgets;
  if (!budgets) return [];
  const platform = job.conversation.platform;
  return [
    ...(budgets.perChannel ? [{ key: `${platform}:channel:${job.conversation.channelId}`, budget: budgets.perChannel }] : []),
    ...(budgets.perWorkspace ? [{ key: `${platform}:workspace`, budget: budgets.perWorkspace }] : []),
  ];
}
