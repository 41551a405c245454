// What Extend and Combine share: a new job made from earlier jobs' delivered videos, copied into its input folder.
import type { Actor } from './access.js';
import { OUTPUT_FILES } from './contract.js';
import { UserFacingError } from './errors.js';
import type { Conversation, Job, JobParams, JobSource, Platform } from './job.js';
import type { JobStore, ObjectStore } from './ports.js';

/** A job planned from earlier videos: its parameters, where it comes from, and the videos its input receives. */
export interface DerivedJob {
  readonly params: JobParams;
  readonly source: JobSource;
  /** Earlier jobs' video.mp4, each copied into the new job's input folder under `name` once its slot is held. */
  readonly inputs: readonly { readonly name: string; readonly fromJobId: string }[];
}

export interface LineageDeps {
  readonly store: Pick<JobStore, 'get'>;
  readonly objects: Pick<ObjectStore, 'statOutput'>;
  readonly isAdmin: (actor: Actor) => boolean;
}

/** The terminal chat and the command line run on one machine for one person: their jobs are one collection. */
const LOCAL: readonly Platform[] = ['shell', 'cli'];

/**
 * Whether `actor`, asking from `conversation`, may build on `job`: their own video, one posted in the channel they ask
 * from, or any as an admin. Anything else reads as unknown: a job id says nothing about other people's videos.
 */
export function mayBuildOn(job: Job, actor: Actor, conversation: Conversation, isAdmin: (actor: Actor) => boolean): boolean {
  const samePlace = job.requester.platform === actor.platform || (LOCAL.includes(job.requester.platform) && LOCAL.includes(actor.platform));
  if (!samePlace) return isAdmin(actor);
  if (job.requester.userId === actor.userId || LOCAL.includes(actor.platform)) return true;
  return job.conversation.channelId === conversation.channelId || isAdmin(actor);
}

/**
 * The delivered job `jobId` whose video `actor` may use, or a UserFacingError saying in one sentence why not. `verb`
 * completes "…once it is done" sentences: "extend", "combine".
 */
export async function deliveredClip(deps: LineageDeps, jobId: string, actor: Actor, conversation: Conversation, verb: string): Promise<Job> {
  const id = jobId.trim();
  const job = id ? await deps.store.get(id) : undefined;
  if (!job || !mayBuildOn(job, actor, conversation, deps.isAdmin)) {
    throw new UserFacingError('JOB_NOT_FOUND', `There is no video job ${id || '(none given)'} that you can ${verb} here.`);
  }
  if (job.state !== 'delivered') {
    const why = job.state === 'failed' || job.state === 'cancelled' ? `it ${job.state === 'failed' ? 'failed' : 'was cancelled'}` : `it is still ${job.state}`;
    throw new UserFacingError('INVALID_COMMAND', `Job ${job.id} has no video to ${verb} (${why}); ${verb} it once it is done.`);
  }
  if ((await deps.objects.statOutput(job.id, OUTPUT_FILES.video)) === undefined) {
    throw new UserFacingError('JOB_NOT_FOUND', `The video of job ${job.id} is no longer stored, so it cannot be used to ${verb}.`);
  }
  return job;
}

/**
 * Copies each earlier video into the new job's input folder through the ObjectStore (files locally, S3 on AWS), so the
 * processing job finds them beside job.json wherever it runs.
 */
export async function copyInputs(objects: Pick<ObjectStore, 'getOutput' | 'putInput'>, jobId: string, inputs: DerivedJob['inputs']): Promise<void> {
  for (const input of inputs) {
    const data = await objects.getOutput(input.fromJobId, OUTPUT_FILES.video);
    if (!data) throw new UserFacingError('JOB_NOT_FOUND', `The video of job ${input.fromJobId} is no longer stored.`);
    await objects.putInput(jobId, input.name, data);
  }
}
