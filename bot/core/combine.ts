// Combine: a job that joins delivered clips, in the order given, into one MP4 without a model (processing/combine.py:
// ffmpeg's concat demuxer with stream copy). Clips must share frame rate and size; the bot checks that before
// anything runs and the job checks the files themselves (codec too).
import type { Actor } from './access.js';
import { clipFileName } from './contract.js';
import { UserFacingError } from './errors.js';
import type { Conversation, Job } from './job.js';
import { MAX_PROMPT_CHARS } from './limits.js';
import { deliveredClip, mayBuildOn, type DerivedJob, type LineageDeps } from './lineage.js';
import type { JobStore } from './ports.js';

/** At most this many clips in one Combine. */
export const MAX_COMBINE_CLIPS = 10;

/** Frames of a delivered clip's video: what its job wrote (an extension holds more than it generated). */
export function videoFrames(job: Job): number {
  const output = job.result?.metadata?.output as { frames?: unknown } | undefined;
  return typeof output?.frames === 'number' ? output.frames : job.params.frames;
}

export interface CombineDeps extends LineageDeps {
  readonly store: Pick<JobStore, 'get' | 'listDeliveredInConversation'>;
}

/** How many of a conversation's videos are read to find its clips (more than a Combine takes, so it can say so). */
const THREAD_SCAN_LIMIT = 50;

/**
 * The clips of a conversation (a Slack thread, a Discord channel or thread, a terminal session), oldest first: its
 * delivered videos that `actor` may use, leaving out earlier Combines and any clip a later Extend in it already holds.
 */
export async function conversationClips(deps: CombineDeps, actor: Actor, conversation: Conversation): Promise<string[]> {
  const delivered = (await deps.store.listDeliveredInConversation(conversation, THREAD_SCAN_LIMIT)).filter(
    (job) => job.source?.kind !== 'combine' && mayBuildOn(job, actor, conversation, deps.isAdmin),
  );
  const extended = new Set(delivered.flatMap((job) => (job.source?.kind === 'extend' ? [job.source.parentId] : [])));
  const clips = delivered.filter((job) => !extended.has(job.id)).map((job) => job.id);
  if (clips.length < 2) {
    throw new UserFacingError(
      'INVALID_COMMAND',
      `Combine needs at least 2 finished videos here and found ${clips.length}; give job ids in order instead (e.g. /combine j1 j2).`,
    );
  }
  if (clips.length > MAX_COMBINE_CLIPS) {
    throw new UserFacingError(
      'INVALID_COMMAND',
      `There are ${clips.length} finished videos here but Combine joins at most ${MAX_COMBINE_CLIPS}; give the ones you want as job ids in order (e.g. /combine j1 j2).`,
    );
  }
  return clips;
}

/**
 * Plans joining `jobIds` in order (none: the conversation's clips, conversationClips), or refuses in one sentence (UserFacingError): fewer than two or more than
 * MAX_COMBINE_CLIPS clips, a job that is not a delivered video the person may use, or clips that differ in frame rate
 * or size (CLIPS_DIFFER, naming the clip that differs).
 */
export async function planCombination(deps: CombineDeps, requested: readonly string[], actor: Actor, conversation: Conversation): Promise<DerivedJob> {
  const jobIds = requested.length === 0 ? await conversationClips(deps, actor, conversation) : requested;
  if (jobIds.length < 2 || jobIds.length > MAX_COMBINE_CLIPS) {
    throw new UserFacingError(
      'INVALID_COMMAND',
      `Combine joins 2 to ${MAX_COMBINE_CLIPS} clips, given as job ids in order (e.g. /combine j1 j2); got ${jobIds.length}.`,
    );
  }
  const clips: Job[] = [];
  for (const id of jobIds) clips.push(await deliveredClip(deps, id, actor, conversation, 'combine'));
  const first = clips[0]!.params;
  for (const clip of clips.slice(1)) {
    const p = clip.params;
    if (p.fps !== first.fps || p.width !== first.width || p.height !== first.height) {
      throw new UserFacingError(
        'CLIPS_DIFFER',
        `Job ${clip.id} is ${p.width}×${p.height} at ${p.fps} fps but job ${clips[0]!.id} is ${first.width}×${first.height} at ${first.fps} fps; only clips of the same size and frame rate can be joined.`,
      );
    }
  }
  const prompt = `Combined ${clips.length} clips: ${clips.map((c) => c.params.prompt).join(' | ')}`;
  const { image: _image, parentVideo: _parent, ...shared } = first;
  return {
    params: {
      ...shared,
      prompt: prompt.length > MAX_PROMPT_CHARS ? `${prompt.slice(0, MAX_PROMPT_CHARS - 1)}…` : prompt,
      frames: clips.reduce((sum, c) => sum + videoFrames(c), 0),
      clips: clips.map((_, i) => clipFileName(i)),
    },
    source: { kind: 'combine', clipIds: clips.map((c) => c.id) },
    inputs: clips.map((c, i) => ({ name: clipFileName(i), fromJobId: c.id })),
  };
}

/** `/combine j1 j2 j3` → the ids in order (commas or spaces between them). */
export function parseCombineIds(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}
