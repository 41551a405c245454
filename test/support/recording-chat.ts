// A chat surface that records what the service shows and posts: the backend suites' stand-in for Slack or Discord.
import type { Conversation, Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';

/** The person and the thread the backend suites' jobs come from. */
export const alice = { platform: 'slack' as const, userId: 'U-alice' };
export const conversation = { platform: 'slack' as const, channelId: 'C1', threadId: '1700000000.0001' };

export class RecordingChat implements ChatSurface {
  readonly platform = 'slack' as const;
  readonly views: { job: Job; view: StatusView }[] = [];
  /** Each posted video's bytes, and its link where the backend gives one (S3: a presigned URL). */
  readonly videos: { job: Job; bytes: Uint8Array; link?: string }[] = [];
  async announce(job: Job) {
    return job.conversation;
  }
  async retract(): Promise<void> {}
  async showStatus(job: Job, view: StatusView): Promise<void> {
    this.views.push({ job, view });
  }
  async postVideo(job: Job, video: VideoFile): Promise<void> {
    const link = await video.link(600);
    this.videos.push({ job, bytes: await video.read(), ...(link ? { link } : {}) });
  }
  videosOf(jobId: string) {
    return this.videos.filter((v) => v.job.id === jobId);
  }
}

/**
 * A chat surface that shows nothing: it gives each announced job a status message (`m-<job id>`) and keeps the jobs it
 * announced; status edits and videos go nowhere. For suites about what the service decides, not what it shows.
 */
export class QuietChat implements ChatSurface {
  readonly platform = 'test' as const;
  readonly announced: Job[] = [];
  async announce(job: Job): Promise<Conversation> {
    this.announced.push(job);
    return { ...job.conversation, statusMessageId: `m-${job.id}` };
  }
  async retract(): Promise<void> {}
  async showStatus(): Promise<void> {}
  async postVideo(): Promise<void> {}
}
