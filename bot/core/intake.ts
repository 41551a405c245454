// Intake: the one door every request comes through — new videos and Retry, Regenerate, Edit prompt alike.
// It checks a request once and holds the person's slot before anything is posted, so every refusal stays
// private; only then does the chat announce the job in public, and the job is created under that message.
import type { Actor, createAccessGuard } from './access.js';
import type { VideoRequest } from './command.js';
import { buildJobParams } from './command.js';
import { planCombination } from './combine.js';
import { DEFAULT_MAX_EXTENSIONS, planExtension, type ExtendAsk } from './extend.js';
import { UserFacingError } from './errors.js';
import { inspectImage, type ImageLimits } from './image.js';
import type { Conversation, Job, JobParams, Requester } from './job.js';
import { copyInputs, type DerivedJob } from './lineage.js';
import type { Screen } from './moderation.js';
import type { ChatSurface, Clock, IdGenerator, JobStore, Logger, ObjectStore, SlotHold } from './ports.js';

interface RequestBase {
  readonly requester: Requester;
  /** Where the status message goes, as the adapter plans it (platform, channel, thread, the adapter's extras). */
  readonly conversation: Conversation;
  /** Same key, same job: platform retries and double deliveries never start a second job. */
  readonly requestKey?: string;
  /**
   * Called once the request passed every check and holds its slot, just before the status message is posted
   * (Slack acknowledges a slash command here, so a refusal can still be the acknowledgement itself).
   */
  readonly admitted?: () => Promise<void>;
}

/** A new video from a prompt (and, to animate, an image). */
export interface NewVideoRequest extends RequestBase {
  readonly request: VideoRequest;
  readonly image?: Uint8Array;
}

/** Retry (same seed), Regenerate (`newSeed`) or Edit prompt (`prompt`) of an earlier job. */
export interface RedoRequest extends RequestBase {
  readonly redo: { readonly jobId: string; readonly prompt?: string; readonly newSeed?: boolean };
}

/** Extend: continue a delivered video from its last frame (extend.ts). */
export interface ExtendRequest extends RequestBase {
  readonly extend: ExtendAsk;
}

/** Combine: join delivered videos, in this order, into one (combine.ts). */
export interface CombineRequest extends RequestBase {
  readonly combine: { readonly jobIds: readonly string[] };
}

export type SubmitRequest = NewVideoRequest | RedoRequest | ExtendRequest | CombineRequest;

export interface Submitted {
  readonly job: Job;
  /** False when the request key already had a job: that job is returned and nothing new was posted. */
  readonly created: boolean;
}

export interface IntakeDeps {
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly chats: ReadonlyMap<string, ChatSurface>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly log: Logger;
  readonly defaultModel: string;
  readonly imageLimits: ImageLimits;
  readonly guard: Pick<ReturnType<typeof createAccessGuard>, 'checkAccess' | 'reserveSlot'> & Partial<Pick<ReturnType<typeof createAccessGuard>, 'isAdmin'>>;
  /** Extensions one video may have in a row (extend.ts); default DEFAULT_MAX_EXTENSIONS. */
  readonly maxExtensions?: number;
  /** Refuses a model this machine cannot run (a GPU model where there is no GPU) with a UserFacingError. */
  readonly checkModel?: (model: string) => void;
  /** Bans and prompt moderation (moderation.ts): refuses with a UserFacingError before any slot, post or GPU work. */
  readonly screen?: Pick<Screen, 'admit' | 'prompt'>;
  /** Called once per created job (show its status, start the queue). */
  readonly created: (job: Job) => void;
}

/** A second Retry or Regenerate of one job by one person within this window is the same click. */
const REPEAT_CLICK_MS = 10_000;

export function createIntake(deps: IntakeDeps) {
  const { store, objects, clock, ids, log, guard } = deps;
  const recentClicks = new Map<string, number>();

  /**
   * Checks the request (access, parameters, image), holds the person's slot, announces the job, creates it.
   * Every refusal is a UserFacingError thrown before anything public is posted; after the announcement the
   * status message is retracted again if the request key already had a job or creating the job fails.
   */
  async function submit(req: SubmitRequest): Promise<Submitted> {
    guard.checkAccess(req.requester, req.conversation);
    // Extend and Combine (and a Retry of one) build on earlier videos: lineage.ts.
    const derived = await derivedJob(req);
    const asked = derived ? undefined : 'redo' in req ? await redoOf(req) : 'request' in req ? { request: req.request, image: req.image, enhance: req.request.enhance ?? false } : undefined;
    const image = asked?.image;
    const imageName = image ? `image.${inspectImage(image, deps.imageLimits, 'The image').extension}` : undefined;
    const enhance = asked?.enhance ?? false;
    const params: JobParams = derived
      ? derived.params
      : buildJobParams(asked?.request ?? { prompt: '' }, { defaultModel: deps.defaultModel, randomSeed: ids.seed(), ...(imageName ? { image: imageName } : {}) });
    // Combine runs no model, so any machine can join clips.
    if (!params.clips) deps.checkModel?.(params.model);

    if (req.requestKey) {
      const existing = await store.findByRequestKey(req.requestKey);
      if (existing) {
        log.info({ jobId: existing.id, requestKey: req.requestKey }, 'duplicate request; returning the existing job');
        return { job: existing, created: false };
      }
    }
    if (deps.screen) {
      await deps.screen.admit(req.requester);
      await deps.screen.prompt(params.prompt, { stage: 'prompt', requester: req.requester });
    }
    const click = 'redo' in req && req.redo.prompt === undefined ? claimClick(req.requester, req.redo.jobId, req.redo.newSeed ? 'regenerate' : 'retry') : undefined;
    const now = clock.now();
    const draft: Job = {
      id: ids.jobId(),
      state: 'queued',
      version: 1,
      params,
      originalPrompt: params.prompt,
      enhance,
      requester: req.requester,
      conversation: req.conversation,
      ...(derived ? { source: derived.source } : {}),
      ...(req.requestKey ? { requestKey: req.requestKey } : {}),
      attempts: 0,
      createdAt: now,
      updatedAt: now,
    };
    let hold: SlotHold | undefined;
    let announced: Conversation | undefined;
    try {
      hold = await guard.reserveSlot(req.requester, draft.id);
      await req.admitted?.();
      if (image && imageName) await objects.putInput(draft.id, imageName, image);
      if (derived) await copyInputs(objects, draft.id, derived.inputs);
      const chat = deps.chats.get(req.conversation.platform);
      if (!chat) throw new Error(`no chat surface for ${req.conversation.platform}`);
      announced = await chat.announce(draft);
      const job: Job = { ...draft, conversation: announced };
      const outcome = await store.create(job, hold);
      if (!outcome.created) {
        log.info({ jobId: outcome.job.id, requestKey: req.requestKey }, 'duplicate request; withdrawing its status message');
        await retract(chat, announced);
        return { job: outcome.job, created: false };
      }
      log.info({ jobId: job.id, model: params.model, mode: params.mode, platform: req.requester.platform }, 'job queued');
      deps.created(job);
      return { job, created: true };
    } catch (err) {
      if (click) recentClicks.delete(click);
      if (hold) await store.release(hold).catch((e: unknown) => log.warn({ err: e, jobId: draft.id }, 'releasing a slot hold failed; it expires by itself'));
      const chat = deps.chats.get(req.conversation.platform);
      if (announced && chat) await retract(chat, announced);
      throw err;
    }
  }

  /** The plan of an Extend or Combine, or of a Retry / Regenerate / Edit prompt of one; undefined for other requests. */
  async function derivedJob(req: SubmitRequest): Promise<DerivedJob | undefined> {
    const lineage = { store, objects, isAdmin: guard.isAdmin ?? (() => false) };
    if ('extend' in req) {
      const max = deps.maxExtensions ?? DEFAULT_MAX_EXTENSIONS;
      return planExtension({ ...lineage, maxExtensions: max, randomSeed: ids.seed() }, req.extend, req.requester, req.conversation);
    }
    if ('combine' in req) return planCombination(lineage, req.combine.jobIds, req.requester, req.conversation);
    if (!('redo' in req)) return undefined;
    const old = await store.get(req.redo.jobId);
    if (old?.source?.kind === 'combine') return planCombination(lineage, old.source.clipIds, req.requester, req.conversation);
    if (old?.source?.kind === 'extend') {
      // Again from the same clip: the same seed for Retry, a new one for Regenerate, the edited prompt for Edit prompt.
      const ask: ExtendAsk = {
        jobId: old.source.parentId,
        prompt: req.redo.prompt ?? old.params.prompt,
        ...(req.redo.newSeed ? {} : { seed: old.params.seed }),
      };
      // The chain limit counts the clip being continued, which the redone extension already passed.
      const max = Math.max(deps.maxExtensions ?? DEFAULT_MAX_EXTENSIONS, old.source.extensions);
      return planExtension({ ...lineage, maxExtensions: max, randomSeed: ids.seed() }, ask, req.requester, req.conversation);
    }
    return undefined;
  }

  async function redoOf(req: RedoRequest): Promise<{ request: VideoRequest; image?: Uint8Array; enhance: boolean }> {
    const old = await store.get(req.redo.jobId);
    if (!old) throw new UserFacingError('JOB_NOT_FOUND', 'That video job is no longer known to the bot.');
    const p = old.params;
    const image = p.image ? await objects.getInput(old.id, p.image) : undefined;
    const request: VideoRequest = {
      prompt: req.redo.prompt ?? p.prompt,
      model: p.model,
      frames: p.frames,
      steps: p.steps,
      guidance: p.guidance,
      negative: p.negativePrompt,
      fit: p.imageFit,
      size: `${p.width}x${p.height}`,
      ...(req.redo.newSeed ? {} : { seed: p.seed }),
    };
    return { request, ...(image ? { image } : {}), enhance: false };
  }

  /**
   * The same Retry or Regenerate click on the same job by the same person within REPEAT_CLICK_MS is refused
   * (DUPLICATE_REQUEST), so a double click makes one video. Returns the claim, dropped again if the request fails.
   */
  function claimClick(by: Actor, jobId: string, what: 'retry' | 'regenerate'): string {
    const key = `${by.platform}:${by.userId}:${jobId}:${what}`;
    const now = clock.now();
    for (const [k, at] of recentClicks) if (now - at >= REPEAT_CLICK_MS) recentClicks.delete(k);
    if (recentClicks.has(key)) {
      throw new UserFacingError('DUPLICATE_REQUEST', 'You clicked that a moment ago; one new video is already on its way.');
    }
    recentClicks.set(key, now);
    return key;
  }

  async function retract(chat: ChatSurface, conversation: Conversation): Promise<void> {
    await chat.retract(conversation).catch((err: unknown) => log.warn({ err }, 'could not withdraw the status message'));
  }

  return { submit };
}
