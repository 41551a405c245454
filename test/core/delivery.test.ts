// Delivery exactly once across processes (issue 13 item 6): a process that takes over a cut-off upload posts it, and
// the process still holding that upload learns so from confirm() before its last request and posts nothing. The
// upload sweep runs on the harness's fake clock: the tests move time instead of waiting for it.
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';
import { createJobService } from '../../bot/core/service.js';
import { ScriptedRunner, createHarness, eventually, sequentialIds, testLogger, type Harness } from '../support/harness.js';

/** A chat whose posts go into `posted`; `gate` holds a post before its confirm() until released. */
class PostingChat implements ChatSurface {
  readonly platform = 'test' as const;
  gate: Promise<void> | undefined;
  entered = false;
  constructor(
    readonly posted: string[],
    private readonly found = () => false,
  ) {}
  async announce(job: Job) {
    return job.conversation;
  }
  async retract(): Promise<void> {}
  async showStatus(_job: Job, _view: StatusView): Promise<void> {}
  async postVideo(job: Job, video: VideoFile): Promise<void> {
    this.entered = true;
    await this.gate;
    if (!(await video.confirm())) return;
    this.posted.push(job.id);
  }
  async findDelivered(): Promise<boolean> {
    return this.found();
  }
}

const alice = { platform: 'test' as const, userId: 'alice' };
const conversation = { platform: 'test' as const, channelId: 'C1' };

describe('delivery across processes', () => {
  let h: Harness;
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await h?.close();
  });

  it('a process that takes a cut-off upload over posts it; the slow one that held it posts nothing', async () => {
    const posted: string[] = [];
    const slow = new PostingChat(posted);
    let release!: () => void;
    slow.gate = new Promise<void>((r) => (release = r));
    h = await createHarness([slow]);
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
    await eventually(() => h.runner.submitted.length === 1, 2000, 'submit');
    const completing = h.runner.complete(job.id);
    await eventually(() => slow.entered, 2000, 'the slow post');
    expect((await h.store.get(job.id))?.state).toBe('uploading');

    // A second process on the same store starts (a rolling deploy, or the first one looked dead) and takes over.
    const second = createJobService({
      store: h.store,
      objects: h.objects,
      runner: h.runner,
      chats: [new PostingChat(posted)],
      clock: h.clock,
      ids: sequentialIds('k'),
      logger: testLogger(),
      defaultModel: 'tiny-random',
      limits: { statusIntervalMs: 0 },
    });
    await second.start();
    stops.push(() => second.stop());
    await eventually(async () => (await h.store.get(job.id))?.state === 'delivered', 2000, 'delivered by the second process');
    release();
    await completing;
    expect(posted).toEqual([job.id]);
    expect((await h.store.get(job.id))?.state).toBe('delivered');
  });

  it('marks a job delivered, posting nothing, when its video is already in the conversation', async () => {
    const posted: string[] = [];
    const first = new PostingChat(posted);
    first.gate = new Promise<void>(() => {}); // cut off for good
    h = await createHarness([first]);
    const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
    await eventually(() => h.runner.submitted.length === 1, 2000, 'submit');
    void h.runner.complete(job.id);
    await eventually(() => first.entered, 2000, 'the post');
    const second = createJobService({
      store: h.store,
      objects: h.objects,
      runner: h.runner,
      chats: [new PostingChat(posted, () => true)],
      clock: h.clock,
      ids: sequentialIds('k'),
      logger: testLogger(),
      defaultModel: 'tiny-random',
    });
    await second.start();
    stops.push(() => second.stop());
    await eventually(async () => (await h.store.get(job.id))?.state === 'delivered', 2000, 'delivered');
    expect(posted).toEqual([]);
  });
  describe('the upload sweep (every 5 minutes, while the bot runs)', () => {
    /** A post cut off in process A (its gate never opens), with process B, on the same store and clock, running beside it. */
    async function cutOffBeside(bChat: PostingChat): Promise<Job> {
      const a = new PostingChat([]);
      a.gate = new Promise<void>(() => {});
      h = await createHarness([a]);
      const b = createJobService({
        store: h.store,
        objects: h.objects,
        runner: new ScriptedRunner(h.objects), // A keeps the runner's events
        chats: [bChat],
        clock: h.clock,
        ids: sequentialIds('k'),
        logger: testLogger(),
        defaultModel: 'tiny-random',
        limits: { statusIntervalMs: 0 },
      });
      await b.start();
      stops.push(() => b.stop());
      const { job } = await h.service.submit({ requester: alice, conversation, request: { prompt: 'a bee' } });
      await eventually(() => h.runner.submitted.length === 1, 2000, 'submit');
      void h.runner.complete(job.id);
      await eventually(() => a.entered, 2000, 'the post');
      return job;
    }

    it('takes over a post cut off in another process once it is 10 minutes old, and posts it once', async () => {
      const posted: string[] = [];
      const job = await cutOffBeside(new PostingChat(posted));
      await h.clock.advance(5 * 60_000); // the first sweep: the upload may still be going
      expect((await h.store.get(job.id))?.state).toBe('uploading');
      await h.clock.advance(5 * 60_000); // the second: it is stale
      await eventually(async () => (await h.store.get(job.id))?.state === 'delivered', 2000, 'delivered by the sweep');
      expect(posted).toEqual([job.id]);
    });

    it('fails a stale cut-off post on a surface that cannot look for it, rather than risk posting twice', async () => {
      const blind = new PostingChat([]);
      (blind as { findDelivered?: unknown }).findDelivered = undefined;
      const job = await cutOffBeside(blind);
      await h.clock.advance(10 * 60_000);
      await eventually(async () => (await h.store.get(job.id))?.state === 'failed', 2000, 'failed by the sweep');
      expect((await h.store.get(job.id))?.failure?.code).toBe('DELIVERY_INTERRUPTED');
    });
  });
});
