// Extend and Combine end to end in the terminal chat: /video, /extend and /combine through the real LocalRunner,
// checked frame by frame. The clip to extend comes from the stub job (its video is what tiny-random makes: 96×64,
// 9 frames, 8 fps, H.264), so only the continuation pays for torch; /extend runs the real processing job (tiny-random
// on the CPU) and /combine the real join (the project's ffmpeg). processing/tests/test_extend.py and test_combine.py
// check the seam and the join on the job's side.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createShellAdapter } from '../../bot/chat/shell.js';
import type { Job } from '../../bot/core/job.js';
import type { Runner, RunnerEvent } from '../../bot/core/ports.js';
import { createHarness, eventually, testLogger, type Harness } from '../support/harness.js';
import { realLocalRunner } from '../support/local-runner.js';
import { STUB_JOB, stubLocalRunner } from '../support/stub-job.js';
import { PYTHON, REPO_ROOT, hasPython } from '../support/video.js';

/** Runs the jobs named in `onStub` on the stub job's LocalRunner and every other job on the real one. */
class SplitRunner implements Runner {
  constructor(private readonly stub: Runner, private readonly real: Runner, private readonly onStub: ReadonlySet<string>) {}
  get maxRuntimeMs() {
    return this.real.maxRuntimeMs;
  }
  private of(job: Job): Runner {
    return this.onStub.has(job.id) ? this.stub : this.real;
  }
  submit(job: Job) {
    return this.of(job).submit(job);
  }
  cancel(job: Job) {
    return this.of(job).cancel(job);
  }
  describe(job: Job) {
    return this.of(job).describe(job);
  }
  async start(onEvent: (event: RunnerEvent) => Promise<void>) {
    await this.stub.start(onEvent);
    await this.real.start(onEvent);
  }
  async stop() {
    await this.stub.stop();
    await this.real.stop();
  }
}

/** Frames of each MP4 (decoded by the job's own reader) and whether `joined` starts with `clip` frame for frame. */
function seam(clip: string, joined: string): { clip: number; joined: number; clipIntact: boolean; lastFrameAt: number } {
  const script = [
    'import json, sys',
    'import numpy as np',
    'from pathlib import Path',
    'from processing.extend import read_frames',
    'clip, _ = read_frames(Path(sys.argv[1])); joined, _ = read_frames(Path(sys.argv[2]))',
    'n = len(clip)',
    'at = [i for i in range(len(joined)) if np.array_equal(joined[i], clip[-1])]',
    'print(json.dumps({"clip": n, "joined": len(joined), "clipIntact": bool(np.array_equal(joined[:n], clip)), "lastFrameAt": at[0] if at else -1}))',
  ].join('\n');
  return JSON.parse(execFileSync(PYTHON, ['-c', script, clip, joined], { cwd: REPO_ROOT, encoding: 'utf8' }));
}

describe.skipIf(!hasPython)('terminal chat: /extend and /combine with tiny-random (skipped without .venv/bin/python)', () => {
  let h: Harness;
  let input: PassThrough;
  let screen = '';
  afterEach(async () => {
    input?.end();
    await h?.close();
  });

  const type = (line: string) => input.write(`${line}\n`);
  const shown = (text: string | RegExp, ms = 90_000) =>
    eventually(() => (typeof text === 'string' ? screen.includes(text) : text.test(screen)), ms, `screen to show ${text}`);
  const videoOf = (id: string) => h.objects.outputDir(id) + '/video.mp4';

  it('continues a clip from its last frame (no repeated or dropped frame), then joins clips in order', async () => {
    input = new PassThrough();
    const output = new PassThrough();
    output.on('data', (d: Buffer) => (screen += d.toString()));
    const shell = createShellAdapter({ input, output, userId: 'me', logger: testLogger() });
    h = await createHarness([shell.surface], {
      makeRunner: (objects) => new SplitRunner(stubLocalRunner(objects), realLocalRunner(objects), new Set(['j0001'])),
      access: { maxJobsPerUser: 10 },
    });
    await shell.start(h.service);

    type('/video a red fox in the snow --frames 9 --steps 2 --seed 3'); // the stub job's clip
    await shown('[j0001] Video ready:');
    expect((await h.store.get('j0001'))?.result?.metadata).toMatchObject({ runtime: { stub: true } });
    type('/extend j0001 the fox runs into the forest');
    await shown('[j0002] Video ready:');
    const job = await h.store.get('j0002');
    expect(job).toMatchObject({ state: 'delivered', source: { kind: 'extend', parentId: 'j0001', extensions: 1 }, params: { prompt: 'the fox runs into the forest', mode: 'i2v' } });
    expect(job?.result?.metadata).toMatchObject({ model: { preset: 'tiny-random' }, job: { parent_video: 'parent.mp4' } }); // the real job
    // 9 + 9 − 1 frames: the clip unchanged, its last frame once (index 8), then the continuation's new frames.
    expect(seam(videoOf('j0001'), videoOf('j0002'))).toEqual({ clip: 9, joined: 17, clipIntact: true, lastFrameAt: 8 });

    type('/combine j0002 j0001');
    await shown('[j0003] Video ready:');
    expect(seam(videoOf('j0002'), videoOf('j0003'))).toMatchObject({ clip: 17, joined: 26, clipIntact: true });
    expect((await h.store.get('j0003'))?.result?.metadata).toMatchObject({ output: { frames: 26, fps: 8, width: 96, height: 64 } });

    type('/combine j0001');
    await shown('✗ Combine joins 2 to 10 clips, given as job ids in order (e.g. /combine j1 j2); got 1.', 5000);
    type('/extend');
    await shown('Which video? /extend <id> [new prompt] (see /jobs)', 5000);
  }, 300_000);

  it('the stub job refuses an Extend or a Combine whose clips are not in its input, in the real job\'s words', () => {
    const dir = mkdtempSync(join(tmpdir(), 'videobot-stub-inputs-'));
    try {
      const contract = join(REPO_ROOT, 'test', 'fixtures', 'contract');
      const stubAnswer = (fixture: string, clips: string[]) => {
        const input = mkdtempSync(join(dir, 'in-'));
        const output = mkdtempSync(join(dir, 'out-'));
        copyFileSync(join(contract, fixture), join(input, 'job.json'));
        for (const clip of clips) copyFileSync(join(REPO_ROOT, 'test', 'fixtures', 'stub-job', 'video.mp4'), join(input, clip));
        const r = spawnSync(process.execPath, [STUB_JOB, 'run', '--input-dir', input, '--output-dir', output], { encoding: 'utf8' });
        const error = r.status === 0 ? undefined : (JSON.parse(readFileSync(join(output, 'error.json'), 'utf8')) as { code: string; message: string });
        return { status: r.status, error };
      };
      // The real job's sentences for the same inputs (processing/extend.py, combine.py; no torch needed).
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      const real = JSON.parse(execFileSync(PYTHON, ['-c', [
        'import json, sys',
        'from pathlib import Path',
        'from processing import combine, extend',
        'from processing.errors import JobError',
        'def said(f):',
        '    try: f()',
        '    except JobError as e: return e.message',
        'empty = Path(sys.argv[1]); contract = Path(sys.argv[2])',
        'job = json.loads((contract / "job-combine.json").read_text())',
        'print(json.dumps({"extend": said(lambda: extend.last_frame(empty / "parent.mp4", 64, 96, 8)),',
        '                  "combine": said(lambda: combine.validate_combine(job, empty))}))',
      ].join('\n'), empty, contract], { cwd: REPO_ROOT, encoding: 'utf8' })) as { extend: string; combine: string };

      expect(stubAnswer('job-extend.json', [])).toEqual({ status: 2, error: expect.objectContaining({ code: 'INVALID_JOB', message: real.extend }) });
      expect(stubAnswer('job-combine.json', [])).toEqual({ status: 2, error: expect.objectContaining({ code: 'INVALID_JOB', message: real.combine }) });
      expect(stubAnswer('job-extend.json', ['parent.mp4'])).toEqual({ status: 0, error: undefined });
      expect(stubAnswer('job-combine.json', ['clip-0.mp4', 'clip-1.mp4', 'clip-2.mp4'])).toEqual({ status: 0, error: undefined });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
