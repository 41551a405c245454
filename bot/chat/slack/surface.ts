// The Slack ChatSurface: posts the status card, edits it in place and uploads the finished MP4 into the job's thread.
//
// Exactly once through a crash: files.completeUploadExternal takes no message metadata (only files, channel_id,
// thread_ts, initial_comment, blocks), so the tag on the bot's file message is the job's own file name
// (videobot-<job>.mp4); findDelivered reads the thread with conversations.replies and looks for the bot's message
// carrying that file.
//
// Status edits and uploads use two Web API clients on purpose. @slack/web-api pauses a client's whole
// request queue for Retry-After when a call answers 429, so a rate-limited chat.update on the upload
// client would hold the video back. Edits therefore go through their own client that rejects
// rate-limited calls at once; this class then waits out Retry-After itself, keeps only the newest view
// per message (stale progress is dropped) and sends it when the window opens.
import { checkCanUpload } from './scopes.js';
import type { webApi } from '@slack/bolt';
import type { Conversation, Job } from '../../core/job.js';
import { shareableLink, videoFileName } from '../../core/delivery.js';
import type { ChatSurface, EditBudget, Logger, StatusView, VideoFile } from '../../core/ports.js';
import { escape, failureMessage, statusMessage, videoComment } from './blocks.js';
import { formatBytes } from '../../core/status.js';

/** files.getUploadURLExternal's answer when the workspace restricts uploads of this size. */
const SIZE_RESTRICTED = 'file_upload_size_restricted';
/** How long a download link posted instead of an upload stays valid. */
const LINK_TTL_SECONDS = 6 * 3600;

function slackError(err: unknown): string | undefined {
  return (err as { data?: { error?: string } } | undefined)?.data?.error;
}

type WebClient = webApi.WebClient;
type Rendered = ReturnType<typeof statusMessage>;

interface PendingEdit {
  readonly channel: string;
  readonly ts: string;
  readonly message: Rendered;
}

/**
 * chat.update is a Tier 3 method: "50+ per minute", counted per method, per app, per workspace. Every job's status
 * edits share it; the core keeps to 50 a minute (final states first) and this class still waits out any 429.
 */
export const SLACK_WORKSPACE_EDITS = { edits: 50, windowMs: 60_000 } as const;

export class SlackSurface implements ChatSurface {
  readonly platform = 'slack' as const;
  readonly editBudgets: { readonly perWorkspace: EditBudget };
  private blockedUntil = 0;
  private readonly pending = new Map<string, PendingEdit>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private draining = false;
  private readonly failuresPosted = new Set<string>();
  private self: Promise<{ userId?: string; botId?: string }> | undefined;
  /** The bot token's scopes as Slack reported them at start (auth.test); undefined until then. */
  scopes: readonly string[] | undefined;

  constructor(
    /** Uploads and thread replies: the Bolt app's client, which retries (and honours Retry-After) itself. */
    private readonly client: WebClient,
    /** Status edits only: created with rejectRateLimitedCalls so a 429 comes back to us at once. */
    private readonly editClient: WebClient,
    private readonly log: Logger,
    workspaceEdits: EditBudget = SLACK_WORKSPACE_EDITS,
  ) {
    this.editBudgets = { perWorkspace: workspaceEdits };
  }

  /** Posts the "Queued…" status message; without a thread it becomes the root of the job's thread. */
  async announce(job: Job): Promise<Conversation> {
    // Fail before the GPU, not after it: without files:write the video could never be posted. (A channel the bot
    // is not in fails right here too: chat.postMessage answers not_in_channel, and the person is told to invite it.)
    checkCanUpload(this.scopes);
    const { channelId, threadId } = job.conversation;
    const posted = await this.client.chat.postMessage({
      channel: channelId,
      ...(threadId ? { thread_ts: threadId } : {}),
      text: 'Queued…',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: ':hourglass_flowing_sand: *Queued…*' } }],
    });
    if (!posted.ts) throw new Error('chat.postMessage answered without a ts');
    return { platform: 'slack', channelId, threadId: threadId ?? posted.ts, statusMessageId: posted.ts };
  }

  async retract(conversation: Conversation): Promise<void> {
    if (conversation.statusMessageId) await this.client.chat.delete({ channel: conversation.channelId, ts: conversation.statusMessageId });
  }

  async showStatus(job: Job, view: StatusView): Promise<void> {
    const { channelId, statusMessageId } = job.conversation;
    if (!statusMessageId) return;
    await this.edit({ channel: channelId, ts: statusMessageId, message: statusMessage(job, view) });
    if (view.state === 'failed' && !this.failuresPosted.has(job.id)) {
      this.failuresPosted.add(job.id);
      const thread = job.conversation.threadId ?? statusMessageId;
      await this.client.chat.postMessage({ channel: channelId, thread_ts: thread, ...failureMessage(job, view) });
    }
  }

  async postVideo(job: Job, video: VideoFile): Promise<void> {
    const { channelId, threadId, statusMessageId } = job.conversation;
    const thread = threadId ?? statusMessageId;
    const bytes = await video.read();
    const upload = {
      file: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      filename: video.fileName,
      title: job.params.prompt.slice(0, 250),
      initial_comment: videoComment(job),
    };
    // Another process took this delivery over (it found the upload cut off): it posts the video.
    if (!(await video.confirm())) return;
    try {
      await this.client.filesUploadV2(thread ? { ...upload, channel_id: channelId, thread_ts: thread } : { ...upload, channel_id: channelId });
    } catch (err) {
      if (slackError(err) !== SIZE_RESTRICTED) throw err;
      await this.postLinkInstead(job, video, bytes.byteLength);
      return;
    }
    this.log.info({ jobId: job.id, channel: channelId, bytes: bytes.byteLength }, 'video uploaded to Slack');
  }

  /**
   * The workspace restricts uploads of this size (files.getUploadURLExternal: file_upload_size_restricted): the video
   * goes into the thread as a time-limited link where the backend has links, else the message says where it is.
   */
  private async postLinkInstead(job: Job, video: VideoFile, bytes: number): Promise<void> {
    const { channelId, threadId, statusMessageId } = job.conversation;
    const thread = threadId ?? statusMessageId;
    const where = await video.link(LINK_TTL_SECONDS).catch(() => undefined);
    const link = shareableLink(where);
    const tooBig = `The video is ${formatBytes(bytes)}, more than this workspace lets apps upload`;
    const text = link
      ? `${tooBig}, so here is a download link (valid for ${LINK_TTL_SECONDS / 3600} hours): <${link}|${escape(video.fileName)}>`
      : `${tooBig}, and this bot has no download links, so it is saved on the bot's machine: ask whoever runs the bot for it.`;
    await this.client.chat.postMessage({ channel: channelId, ...(thread ? { thread_ts: thread } : {}), text: `${videoComment(job)}\n${text}` });
    // Where on the bot's machine goes to the log (its admin), never into the channel.
    this.log.info({ jobId: job.id, channel: channelId, bytes, ...(link ? {} : { savedAt: where }) }, 'upload size restricted in this workspace; posted a link instead');
  }

  /**
   * Whether the bot's file message with this job's video is already in the job's thread (a post that went out just
   * before the bot was cut off). conversations.replies: the thread's parent first, then its replies, oldest first.
   */
  async findDelivered(job: Job): Promise<boolean> {
    const { channelId, threadId, statusMessageId } = job.conversation;
    const thread = threadId ?? statusMessageId;
    if (!thread) return false;
    const self = await this.identity();
    const name = videoFileName(job);
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const replies = await this.client.conversations.replies({ channel: channelId, ts: thread, limit: 200, ...(cursor ? { cursor } : {}) });
      const mine = (m: { user?: string; bot_id?: string }) => (self.userId !== undefined && m.user === self.userId) || (self.botId !== undefined && m.bot_id === self.botId);
      if ((replies.messages ?? []).some((m) => mine(m) && (m.files ?? []).some((f) => f.name === name))) return true;
      cursor = replies.response_metadata?.next_cursor || undefined;
      if (!replies.has_more || !cursor) return false;
    }
    return false;
  }

  /** The bot's own user and bot ids (who its messages are from), asked once. */
  private identity(): Promise<{ userId?: string; botId?: string }> {
    this.self ??= this.client.auth.test().then(
      (r) => ({ ...(r.user_id ? { userId: r.user_id } : {}), ...(r.bot_id ? { botId: r.bot_id } : {}) }),
      (err: unknown) => {
        this.self = undefined;
        throw err;
      },
    );
    return this.self;
  }

  /** Stops the deferred-edit timer (edits still waiting are dropped). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private async edit(edit: PendingEdit): Promise<void> {
    const key = `${edit.channel}:${edit.ts}`;
    // While rate limited, or while an earlier view of this message waits, only the newest view is kept.
    if (Date.now() < this.blockedUntil || this.draining || this.pending.has(key)) {
      this.pending.set(key, edit);
      this.schedule();
      return;
    }
    await this.send(key, edit);
  }

  private async send(key: string, edit: PendingEdit): Promise<void> {
    try {
      await this.editClient.chat.update({ channel: edit.channel, ts: edit.ts, ...edit.message });
    } catch (err) {
      const retryAfter = (err as { code?: string; retryAfter?: number }).code === 'slack_webapi_rate_limited_error' ? (err as { retryAfter?: number }).retryAfter : undefined;
      if (retryAfter === undefined) throw err;
      this.blockedUntil = Math.max(this.blockedUntil, Date.now() + retryAfter * 1000);
      this.log.info({ retryAfterS: retryAfter }, 'chat.update rate limited; holding status edits');
      if (!this.pending.has(key)) this.pending.set(key, edit); // a newer view may have arrived meanwhile
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.timer || this.draining) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, Math.max(0, this.blockedUntil - Date.now()));
    this.timer.unref?.();
  }

  /** Sends waiting views one at a time, oldest message first, until rate limited again. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.size > 0 && Date.now() >= this.blockedUntil) {
        const [key, edit] = this.pending.entries().next().value as [string, PendingEdit];
        this.pending.delete(key);
        await this.send(key, edit).catch((err) => this.log.warn({ err }, 'deferred status edit failed'));
      }
    } finally {
      this.draining = false;
    }
    if (this.pending.size > 0) this.schedule();
  }
}
