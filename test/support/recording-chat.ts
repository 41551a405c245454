// A chat surface that records what the service shows and posts: the backend suites' stand-in for Slack or Discord.
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';

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
