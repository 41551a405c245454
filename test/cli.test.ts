// `npx videobot generate`: the one-shot command for scripts, run as a real process with the real tiny-random job.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, hasPython, probeVideo } from './support/video.js';

const dataDir = mkdtempSync(join(tmpdir(), 'vb-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function videobot(...args: string[]) {
  return spawnSync(process.execPath, ['bin/videobot.mjs', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, VIDEOBOT_DATA_DIR: dataDir, VIDEOBOT_DEVICE: 'cpu' },
  });
}

describe.skipIf(!hasPython)('videobot generate', () => {
  it('prints progress on stderr and the MP4 path as the last stdout line', () => {
    const r = videobot('generate', 'a bee on a flower', '--model', 'tiny-random', '--frames', '17', '--steps', '2', '--seed', '11');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/step \d\/2/);
    const path = r.stdout.trim().split('\n').at(-1)!;
    expect(path).toMatch(/video\.mp4$/);
    expect(probeVideo(path)).toMatchObject({ codec: 'h264', frames: 17, fps: 8, width: 96, height: 64 });
  }, 150_000);

  it('exits 2 with one sentence on bad input', () => {
    const r = videobot('generate', 'a bee', '--model', 'tiny-random', '--steps', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error: --steps must be a whole number from 1 to 100');
    expect(r.stdout).toBe('');
  }, 60_000);

  it('exits 1 with the reason when the job fails', () => {
    const r = videobot('generate', 'a bee', '--model', 'cogvideox-2b', '--steps', '1');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Failed: .*cogvideox-2b/);
  }, 60_000);
});
