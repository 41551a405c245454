// The LocalRunner and the JobService against the stub job (test/support/stub-job.mjs), which writes the processing job's
// files on cue: delivery with live progress, queue, cancel, exit codes. The real tiny-random job runs end to end once per
// adapter: test/cli.test.ts (terminal), test/slack/local-runner, test/discord/local-runner, test/local/worker.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../bot/core/job.js';
import type { ChatSurface, StatusView, VideoFile } from '../../bot/core/ports.js';
import { holding, release, stubLocalRunner } from '../support/stub-job.js';
import { createHarness, eventually, type Harness } from '../support/harness.js';
import { REPO_ROOT } from '../support/video.js';
import { processAlive } from '../../bot/local/processes.js';

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

describe('LocalRunner with the stub job', () => {
  let h: Harness | undefined;
  afterEach(async () => h?.close());

  async function failure(jobId: string) {
    return eventually(async () => {
      const j = await h!.store.get(jobId);
      return j?.state === 'failed' ? j.failure : undefined;
    }, 20_000, 'failure');
  }

  it('delivers the job’s video and metadata, with live progress', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => stubLocalRunner(o) });
    const { job } = await h.service.submit({ requester: user, conversation, request: { prompt: 'a bee on a flower stub:step-ms=30', model: 'tiny-random', frames: 17, steps: 12, seed: 5 } });
    await eventually(async () => (await h!.store.get(job.id))?.state === 'delivered', 20_000, 'delivery');
    expect(chat.videos).toHaveLength(1);
    expect(readFileSync(chat.videos[0]!.path)).toEqual(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'stub-job', 'video.mp4')));
    const states = chat.views.map((v) => v.state);
    expect(states).toContain('running');
    expect(states.at(-1)).toBe('delivered');
    const steps = chat.views.filter((v) => v.progress).map((v) => v.progress!.step);
    expect(Math.max(...steps)).toBeGreaterThanOrEqual(2);
    const done = await h.store.get(job.id);
    expect(done?.result?.metadata).toMatchObject({ job: { seed: 5, frames: 17 } });
  });

  it('runs one job at a time and reports queue positions', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => stubLocalRunner(o) });
    const a = await h.service.submit({ requester: user, conversation, request: { prompt: 'x stub:hold', model: 'tiny-random', steps: 2 } });
    const b = await h.service.submit({ requester: { ...user, userId: 'v' }, conversation, request: { prompt: 'y', model: 'tiny-random', steps: 2 } });
    await eventually(() => holding(h!.objects, a.job.id), 20_000, 'a holding');
    expect((await h.store.get(a.job.id))?.state).toBe('running');
    expect((await h.store.get(b.job.id))?.state).toBe('queued');
    await eventually(() => chat.views.some((v) => v.jobId === b.job.id && v.queuePosition === 1), 5000, 'b shown as next in the queue');
    release(h.objects, a.job.id);
    await eventually(async () => (await h!.store.get(b.job.id))?.state === 'delivered', 20_000, 'second delivery');
    expect(chat.videos.map((v) => v.job.id)).toEqual([a.job.id, b.job.id]);
  });

  it('kills the child on cancel', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => stubLocalRunner(o) });
    const { job } = await h.service.submit({ requester: user, conversation, request: { prompt: 'x stub:hold', model: 'tiny-random', steps: 2 } });
    await eventually(() => holding(h!.objects, job.id), 20_000, 'job holding');
    const pid = (JSON.parse(readFileSync(join(h.objects.outputDir(job.id), '..', 'runner.json'), 'utf8')) as { pid: number }).pid;
    await h.service.cancel(job.id, user);
    await eventually(async () => (await h!.store.get(job.id))?.state === 'cancelled', 10_000, 'cancelled');
    await eventually(() => !processAlive(pid), 10_000, 'the job process to end');
    expect(chat.videos).toHaveLength(0);
    expect(await h.objects.statOutput(job.id, 'video.mp4')).toBeUndefined();
  });

  it('reports the processing job’s own error message, code and retryable flag', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => stubLocalRunner(o) });
    const { job } = await h.service.submit({ requester: user, conversation, request: { prompt: 'x stub:fail=MODEL_NOT_AVAILABLE', model: 'tiny-random', steps: 2 } });
    expect(await failure(job.id)).toEqual({ code: 'MODEL_NOT_AVAILABLE', message: 'The stub job failed with MODEL_NOT_AVAILABLE as asked.', retryable: false });
    expect(chat.videos).toHaveLength(0);
  });

  it('a job that exits without a result file fails with its exit code in the message', async () => {
    const chat = new Chat();
    h = await createHarness([chat], { makeRunner: (o) => stubLocalRunner(o) });
    const { job } = await h.service.submit({ requester: user, conversation, request: { prompt: 'x stub:exit=7', model: 'tiny-random', steps: 2 } });
    expect(await failure(job.id)).toMatchObject({ code: 'INTERNAL_ERROR', message: 'The processing job ended unexpectedly (exit 7).' });
  });
});
