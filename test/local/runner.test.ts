// The real processing job (tiny-random on the CPU) through the LocalRunner and the JobService.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';
import { realLocalRunner } from '../support/local-runner.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';
import { hasPython, probeVideo } from '../support/video.js';

class Chat implements ChatSurface {
  readonly platform = 'test' as const;
  readonly views: StatusView[] = [];
  readonly videos: { job: Job; path: string }[] = [];
  async announce(job: Job) {
    return job.conversation;
  }
  async retract(): Promise<void> {}
  async showStatus(_job: Job, view: StatusView) {
    this.views.push(view);
  }
  async postVideo(job: Job, video: VideoFile) {
    this.videos.push({ job, path: new URL((await video.link(0))!).pathname });
  }
}

const user = { platform: 'test' as const, userId: 'u' };
const conversation = { platform: 'test' as const, channelId: 'c' };

describe.skipIf(!hasPython)('LocalRunner with the real processing job', () => {
  let h: Harness | undefined;
  afterEach(async () => h?.close());

  it('makes an H.264 MP4 with the frames, fps and size asked for, with live progress', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => realLocalRunner(o) });
    const { job } = await h.service.submit({ requester: user, conversation, request: { prompt: 'a bee on a flower', model: 'tiny-random', frames: 17, steps: 30, seed: 5 } });
    await eventually(async () => (await h!.store.get(job.id))?.state === 'delivered', 90_000, 'delivery');
    expect(chat.videos).toHaveLength(1);
    const info = probeVideo(chat.videos[0]!.path);
    expect(info).toMatchObject({ codec: 'h264', pix_fmt: 'yuv420p', width: 96, height: 64, fps: 8, frames: 17, faststart: true });
    const states = chat.views.map((v) => v.state);
    expect(states).toContain('running');
    expect(states.at(-1)).toBe('delivered');
    const steps = chat.views.filter((v) => v.progress).map((v) => v.progress!.step);
    expect(Math.max(...steps)).toBeGreaterThanOrEqual(2);
    const done = await h.store.get(job.id);
    expect(done?.result?.metadata).toMatchObject({ job: { seed: 5, frames: 17 } });
  }, 120_000);

  it('runs one job at a time and reports queue positions', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => realLocalRunner(o) });
    const request = { prompt: 'x', model: 'tiny-random', steps: 2 };
    const a = await h.service.submit({ requester: user, conversation, request });
    const b = await h.service.submit({ requester: { ...user, userId: 'v' }, conversation, request });
    await eventually(async () => (await h!.store.get(a.job.id))?.state !== 'queued');
    expect((await h.store.get(b.job.id))?.state).toBe('queued');
    await eventually(() => chat.views.some((v) => v.jobId === b.job.id && v.queuePosition === 1), 5000, 'b shown as next in the queue');
    await eventually(async () => (await h!.store.get(b.job.id))?.state === 'delivered', 90_000, 'second delivery');
    expect(chat.videos.map((v) => v.job.id)).toEqual([a.job.id, b.job.id]);
  }, 120_000);

  it('kills the child on cancel', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => realLocalRunner(o) });
    const { job } = await h.service.submit({ requester: user, conversation, request: { prompt: 'x', model: 'tiny-random', steps: 100, frames: 49 } });
    await eventually(async () => ['starting', 'running'].includes((await h!.store.get(job.id))!.state));
    await h.service.cancel(job.id, user);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await h.store.get(job.id))?.state).toBe('cancelled');
    expect(chat.videos).toHaveLength(0);
    expect(await h.objects.statOutput(job.id, 'video.mp4')).toBeUndefined();
  }, 60_000);

  it('reports the processing job’s own error message', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => realLocalRunner(o), defaultModel: 'cogvideox-2b' });
    const { job } = await h.service.submit({ requester: user, conversation, request: { prompt: 'x', steps: 2 } });
    const failed = await eventually(async () => {
      const j = await h!.store.get(job.id);
      return j?.state === 'failed' ? j : undefined;
    }, 60_000, 'failure');
    expect(failed.failure?.code).toBe('MODEL_NOT_AVAILABLE');
    expect(failed.failure?.message).toContain(join('models', 'cogvideox-2b'));
  }, 60_000);
});
