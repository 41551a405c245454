// Re-encodes an MP4 to fit an upload limit, with ffmpeg (imageio-ffmpeg's binary from the Python venv works).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Makes a video smaller. Returns undefined when it cannot get under `maxBytes`. */
export interface VideoShrinker {
  shrink(mp4: Uint8Array, maxBytes: number, durationS: number): Promise<Uint8Array | undefined>;
}

export interface FfmpegShrinkerOptions {
  readonly ffmpegPath: string;
  readonly timeoutMs?: number;
}

/** Tries, in order: the bitrate that fits; 70% of it at 3/4 size; half of it at half size. */
const ATTEMPTS = [
  { bitrate: 1, scale: 1 },
  { bitrate: 0.7, scale: 0.75 },
  { bitrate: 0.5, scale: 0.5 },
] as const;

/** H.264 at a bitrate computed from the byte budget and the clip length. */
export function createFfmpegShrinker(options: FfmpegShrinkerOptions): VideoShrinker {
  return {
    async shrink(mp4, maxBytes, durationS) {
      const dir = await mkdtemp(join(tmpdir(), 'videobot-shrink-'));
      try {
        const input = join(dir, 'in.mp4');
        await writeFile(input, mp4);
        // 90% of the budget for video, leaving room for the container.
        const budgetKbps = (maxBytes * 8 * 0.9) / Math.max(0.5, durationS) / 1000;
        for (const [n, attempt] of ATTEMPTS.entries()) {
          const kbps = Math.floor(budgetKbps * attempt.bitrate);
          if (kbps < 20) break;
          const output = join(dir, `out${n}.mp4`);
          const scale = attempt.scale === 1 ? [] : ['-vf', `scale=trunc(iw*${attempt.scale}/2)*2:trunc(ih*${attempt.scale}/2)*2`];
          await run(options.ffmpegPath, [
            '-hide_banner', '-loglevel', 'error', '-y', '-i', input, ...scale,
            '-an', '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
            '-pix_fmt', 'yuv420p', '-movflags', '+faststart', output,
          ], options.timeoutMs ?? 120_000);
          const bytes = await readFile(output);
          if (bytes.length <= maxBytes) return bytes;
        }
        return undefined;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`ffmpeg exited with ${code}: ${stderr.trim()}`));
    });
  });
}
