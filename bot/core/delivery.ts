// Delivery: posts a finished video into its conversation exactly once, through retries, replicas and crashes.
//
// The claim (RUNNER_STATES → uploading) picks the one writer that posts. A crash after the claim leaves the job in
// `uploading`: on recovery the surface is asked whether the post reached the platform anyway (findDelivered, which
// looks for the bot's own message tagged with the job id); if so the job is marked delivered, else the post is
// made again. A replica still posting a video whose delivery another process took over learns so from
// VideoFile.confirm (a compare-and-set on the job's version) before its last request, and posts nothing.
import { OUTPUT_FILES } from './contract.js';
import type { JobFailure } from './errors.js';
import type { Job } from './job.js';
import { RUNNER_STATES } from './job.js';
import type { ChatSurface, Clock, JobStore, Logger, ObjectStore, VideoFile } from './ports.js';

/** No chat upload takes this long; an `uploading` job older than this, on a surface that cannot look, was cut off. */
export const UPLOAD_STALE_MS = 10 * 60 * 1000;

/**
 * A link people in a chat can open: http(s) only. The local backend's "link" is a file:// path on the bot's machine,
 * which means nothing to anyone else and tells a channel how the host is laid out; public messages say "saved on the
 * bot's machine" instead (the terminal chat, private to that machine's user, still shows the path).
 */
export function shareableLink(link: string | undefined): string | undefined {
  return link !== undefined && /^https?:\/\//i.test(link) ? link : undefined;
}

/** The posted video's file name: unique per job, so a surface can recognise its own post of it. */
export function videoFileName(job: Pick<Job, 'id'>): string {
  return `videobot-${job.id}.mp4`;
}

export interface DeliveryDeps {
  readonly store: JobStore;
  readonly objects: ObjectStore;
  readonly chats: ReadonlyMap<string, ChatSurface>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly presignTtlSeconds?: number;
  readonly fail: (job: Job, failure: JobFailure) => Promise<unknown>;
  readonly showStatus: (job: Job, urgent?: boolean) => Promise<void>;
  /** Called when a job left the GPU's states for good (delivered), so queued jobs may start. */
  readonly finished: () => void;
}

export function createDelivery(deps: DeliveryDeps) {
  const { store, objects, chats, clock, log } = deps;
  /** Jobs this process is posting now: recovery and the sweep leave them alone. */
  const posting = new Set<string>();

  /** The runner finished the job: claim its delivery and post it. */
  async function deliver(job: Job, metadata: Record<string, unknown>): Promise<void> {
    const size = await objects.statOutput(job.id, OUTPUT_FILES.video);
    if (size === undefined) {
      await deps.fail(job, { code: 'INTERNAL_ERROR', message: 'The GPU job finished but left no video.', retryable: true });
      return;
    }
    const result = { video: OUTPUT_FILES.video, poster: OUTPUT_FILES.poster, sizeBytes: size, metadata };
    // Claim the delivery first: only the writer that wins this compare-and-set posts the video.
    const claimed = await store.transition(job.id, RUNNER_STATES, 'uploading', { result });
    if (!claimed) {
      log.info({ jobId: job.id }, 'delivery already claimed; skipping');
      return;
    }
    void deps.showStatus(claimed, true);
    await post(claimed);
  }

  /**
   * A job found in `uploading` that this process is not posting (after a restart, or by the sweep): marks it
   * delivered if its video is already in the conversation, else takes the delivery over and posts it now. On a
   * surface that cannot look, waits until the upload is stale and then fails it rather than risk a second post.
   */
  async function resume(job: Job, reason: 'restart' | 'sweep'): Promise<void> {
    if (posting.has(job.id)) return;
    const chat = chats.get(job.conversation.platform);
    if (!chat?.findDelivered) {
      if (clock.now() - job.updatedAt < UPLOAD_STALE_MS) return;
      await deps.fail(job, { code: 'DELIVERY_INTERRUPTED', message: '', retryable: true });
      return;
    }
    if (reason === 'sweep' && clock.now() - job.updatedAt < UPLOAD_STALE_MS) return;
    const jlog = log.child({ jobId: job.id });
    if (await chat.findDelivered(job)) {
      jlog.info({ reason }, 'the video was posted before the bot was cut off; marking it delivered');
      await markDelivered(job);
      return;
    }
    // Take the delivery over: a process still posting it fails its confirm() and posts nothing.
    const taken = await store.transition(job.id, ['uploading'], 'uploading', {}, job.version);
    if (!taken) {
      jlog.info('the delivery moved on meanwhile; leaving it');
      return;
    }
    jlog.info({ reason }, 'posting again a video whose post was cut off');
    await post(taken);
  }

  async function post(claimed: Job): Promise<void> {
    const chat = chats.get(claimed.conversation.platform);
    posting.add(claimed.id);
    let version = claimed.version;
    let takenOver = false;
    const confirm = async (): Promise<boolean> => {
      const fenced = await store.transition(claimed.id, ['uploading'], 'uploading', {}, version);
      if (fenced) version = fenced.version;
      else takenOver = true;
      return !takenOver;
    };
    try {
      if (!chat) throw new Error(`no chat adapter for ${claimed.conversation.platform}`);
      await chat.postVideo(claimed, videoFile(claimed, confirm));
    } catch (err) {
      const where = await objects.outputLink(claimed.id, OUTPUT_FILES.video, deps.presignTtlSeconds ?? 6 * 3600).catch(() => undefined);
      // The path on the bot's machine goes to the log (its admin), never into the chat.
      log.error({ jobId: claimed.id, err, ...(where && !shareableLink(where) ? { savedAt: where } : {}) }, 'posting the video failed');
      const link = shareableLink(where);
      await deps.fail(claimed, {
        code: 'DELIVERY_FAILED',
        message: `The video was made but could not be posted here; ${link ? `download it here: ${link}` : where ? "it is saved on the bot's machine" : 'it could not be kept either'}.`,
        retryable: true,
      });
      return;
    } finally {
      posting.delete(claimed.id);
    }
    if (takenOver) {
      log.info({ jobId: claimed.id }, 'another process took this delivery over; it posts the video');
      return;
    }
    await markDelivered(claimed);
  }

  async function markDelivered(job: Job): Promise<void> {
    const delivered = await store.transition(job.id, ['uploading'], 'delivered', { finishedAt: clock.now() });
    // The GPU is free: start the next job before waiting for the final status edit's turn.
    deps.finished();
    if (delivered) {
      log.info({ jobId: job.id, bytes: job.result?.sizeBytes }, 'job delivered');
      await deps.showStatus(delivered, true);
    }
  }

  function videoFile(job: Job, confirm: () => Promise<boolean>): VideoFile {
    return {
      fileName: videoFileName(job),
      sizeBytes: job.result?.sizeBytes ?? 0,
      read: async () => {
        const bytes = await objects.getOutput(job.id, OUTPUT_FILES.video);
        if (!bytes) throw new Error(`video.mp4 of ${job.id} is missing`);
        return bytes;
      },
      readPoster: () => objects.getOutput(job.id, OUTPUT_FILES.poster),
      link: (ttl) => objects.outputLink(job.id, OUTPUT_FILES.video, ttl),
      confirm,
    };
  }

  return { deliver, resume };
}
