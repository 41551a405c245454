// Extend: a new job that continues a delivered clip from its last frame with the image-to-video model of the clip's
// family, and delivers the joined video (processing/extend.py). Chains of extensions stop at a configured length.
import type { Actor } from './access.js';
import { buildJobParams } from './command.js';
import { PARENT_VIDEO_FILE } from './contract.js';
import { UserFacingError } from './errors.js';
import type { Conversation, Job } from './job.js';
import { deliveredClip, type DerivedJob, type LineageDeps } from './lineage.js';
import { framesAllowed, getPreset, imageToVideoPresetFor } from './presets.js';

/** Extensions one video may have, one after another, unless configured (VIDEOBOT_MAX_EXTENSIONS). */
export const DEFAULT_MAX_EXTENSIONS = 4;

/** What the person asked: continue `jobId`, with its prompt unless `prompt` is given, with `seed` or a fresh one. */
export interface ExtendAsk {
  readonly jobId: string;
  readonly prompt?: string;
  readonly seed?: number;
}

export interface ExtendDeps extends LineageDeps {
  readonly maxExtensions: number;
  /** A fresh seed, used when the ask gives none. */
  readonly randomSeed: number;
}

/** How many extensions `job`'s video already has (0 for a clip made from a prompt). */
export function extensionsOf(job: Job): number {
  return job.source?.kind === 'extend' ? job.source.extensions : 0;
}

/**
 * Plans the continuation of `ask.jobId`, or refuses in one sentence (UserFacingError): a job that is not a delivered
 * video the person may use, a joined (combined) video, a chain at its limit, a family with no image-to-video model.
 */
export async function planExtension(deps: ExtendDeps, ask: ExtendAsk, actor: Actor, conversation: Conversation): Promise<DerivedJob> {
  const parent = await deliveredClip(deps, ask.jobId, actor, conversation, 'extend');
  if (parent.source?.kind === 'combine') {
    throw new UserFacingError('CANNOT_EXTEND', `Job ${parent.id} joins several clips; extend the last of them instead, then combine again.`);
  }
  const done = extensionsOf(parent);
  if (deps.maxExtensions <= 0) throw new UserFacingError('CANNOT_EXTEND', 'Extending videos is turned off on this bot.');
  if (done >= deps.maxExtensions) {
    throw new UserFacingError(
      'CANNOT_EXTEND',
      `Job ${parent.id} is already extended ${done} ${done === 1 ? 'time' : 'times'}, the most this bot allows (${deps.maxExtensions}); use Combine to join longer videos.`,
    );
  }
  const p = parent.params;
  const family = getPreset(p.model);
  const i2v = family ? imageToVideoPresetFor(family) : undefined;
  if (!family || !i2v) {
    throw new UserFacingError('CANNOT_EXTEND', `${family?.label ?? p.model} has no image-to-video model here, so its videos cannot be extended.`);
  }
  if (i2v.fps !== p.fps || !i2v.sizes.some(([h, w]) => h === p.height && w === p.width)) {
    throw new UserFacingError(
      'CANNOT_EXTEND',
      `${i2v.label} makes ${i2v.sizes.map(([h, w]) => `${w}×${h}`).join(' or ')} video at ${i2v.fps} fps, unlike this ${p.width}×${p.height} clip at ${p.fps} fps, so it cannot continue it.`,
    );
  }
  const prompt = ask.prompt?.trim() ? ask.prompt : p.prompt;
  const built = buildJobParams(
    {
      prompt,
      model: i2v.id,
      // The continuation is as long as the clip was made (the model's own length where that does not fit it).
      ...(framesAllowed(i2v, p.frames) ? { frames: p.frames } : {}),
      ...(p.steps >= i2v.steps.min && p.steps <= i2v.steps.max ? { steps: p.steps } : {}),
      ...(p.guidance >= i2v.guidance.min && p.guidance <= i2v.guidance.max ? { guidance: p.guidance } : {}),
      negative: p.negativePrompt,
      ...(ask.seed !== undefined ? { seed: ask.seed } : {}),
    },
    // The image is the clip's last frame, taken by the job from parent.mp4.
    { defaultModel: i2v.id, randomSeed: deps.randomSeed, image: PARENT_VIDEO_FILE },
  );
  const { image: _image, ...params } = built;
  return {
    params: { ...params, height: p.height, width: p.width, parentVideo: PARENT_VIDEO_FILE },
    source: { kind: 'extend', parentId: parent.id, extensions: done + 1 },
    inputs: [{ name: PARENT_VIDEO_FILE, fromJobId: parent.id }],
  };
}
