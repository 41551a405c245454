// `videobot generate --extend JOB ["new prompt"]`: the continuation of a finished video from the command line, run in
// this process through bot/main.ts's main (test/support/videobot.ts) on the stub job.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteJobStore } from '../bot/local/sqlite.js';
import { systemClock } from '../bot/local/system.js';
import { STUB_PYTHON } from './support/stub-job.js';
import { runCommand } from './support/videobot.js';

const dataDir = mkdtempSync(join(tmpdir(), 'vb-extend-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const env = { PATH: process.env.PATH, HOME: process.env.HOME, VIDEOBOT_DATA_DIR: dataDir, VIDEOBOT_MODELS_DIR: join(dataDir, 'models'), VIDEOBOT_DEVICE: 'cpu', VIDEOBOT_PYTHON: STUB_PYTHON };
const videobot = (...args: string[]) => runCommand(args, env);
const jobIdOf = (stderr: string) => /Job (j[a-z0-9]+):/.exec(stderr)?.[1];

describe('videobot generate --extend', () => {
  it('continues a finished video and prints the joined MP4\'s path; bad use is one sentence and exit code 2', async () => {
    const first = await videobot('generate', 'a red fox in the snow', '--model', 'tiny-random');
    expect(first.status, first.stderr).toBe(0);
    const parent = jobIdOf(first.stderr)!;

    const extended = await videobot('generate', '--extend', parent, 'the fox runs into the trees');
    expect(extended.status, extended.stderr).toBe(0);
    const id = jobIdOf(extended.stderr)!;
    expect(extended.stderr).toMatch(new RegExp(`Job ${id}: tiny-random .* · job ${parent} \\+ 8 frames @ 8 fps`));
    expect(extended.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`${id}/output/video\\.mp4$`));
    const store = new SqliteJobStore(join(dataDir, 'videobot.db'), systemClock);
    try {
      expect(await store.get(id)).toMatchObject({
        state: 'delivered',
        source: { kind: 'extend', parentId: parent, extensions: 1 },
        params: { prompt: 'the fox runs into the trees', mode: 'i2v', parentVideo: 'parent.mp4' },
      });
    } finally {
      store.close();
    }

    for (const [args, sentence] of [
      [['--extend'], 'error: --extend needs the id of a finished video, e.g. --extend j1a2b3c.'],
      [['--extend', parent, '--seed', '3'], "error: --extend keeps the video's own settings; it takes only a new prompt, not --seed."],
      [['--extend', 'jnope'], 'error: There is no video job jnope that you can extend here.'],
    ] as const) {
      const r = await videobot('generate', ...args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(sentence);
    }
  }, 60_000);
});
