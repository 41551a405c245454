// Probes an MP4 with the processing job's own ffmpeg-based probe (imageio-ffmpeg ships ffmpeg, not ffprobe).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
export const PYTHON = join(REPO_ROOT, '.venv', 'bin', 'python');
export const hasPython = existsSync(PYTHON);

export interface VideoInfo {
  codec: string;
  pix_fmt: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  faststart: boolean;
}

export function probeVideo(path: string): VideoInfo {
  const script = 'import dataclasses, json, sys; from pathlib import Path; from processing.video import probe; print(json.dumps(dataclasses.asdict(probe(Path(sys.argv[1])))))';
  return JSON.parse(execFileSync(PYTHON, ['-c', script, path], { cwd: REPO_ROOT, encoding: 'utf8' })) as VideoInfo;
}
