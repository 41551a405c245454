// Combine: a job that joins delivered clips, in the order given, into one MP4 without a model (processing/combine.py:
// ffmpeg's concat demuxer with stream copy). Clips must share frame rate and size; the bot checks that before
// anything runs and the job checks the files themselves (codec too).
import type { Actor } from './access.js';
import { clipFileName } from './contract.js';
import { UserFacingError } from './errors.js';
import type { Conversation, Job } from './job.js';
import { MAX_PROMPT_CHARS } from './limits.js';
import { deliveredClip, type DerivedJob, type LineageDeps } from './lineage.js';

/** At most this many clips in one Combine. */
export const MAX_COMBINE_CLIPS = 10;

/** Frames of a delivered clip's video: what its job wrote (an extension holds more than it generated). */
export function videoFrames(job: Job): number {
  const output = job.result?.metadata?.output as { frames?: unknown } | undefined;
  return typeof output?.frames === 'number' ? output.frames : job.params.frames;
}

/**
 * Plans joining `jobIds` in order, or refuses in one sentence (UserFacingError): fewer than two or more than
 * MAX_COMBINE_CLIPS clips, a job that is not a delivered video the person may use, or clips that differ in frame rate
 * or size (CLIPS_DIFFER, naming the clip that differs).
 */
export async function planCombination(deps: LineageDeps, jobIds: readonly string[], actor: Actor, conversation: Conversation): Promise<DerivedJob> {
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
