// Probes an MP4 with the processing job's own ffmpeg-based probe (imageio-ffmpeg ships ffmpeg, not ffprobe).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
/** The venv's interpreter itself: for a test about that process (its pid, its signals), not only its work. */
export const REAL_PYTHON = join(REPO_ROOT, '.venv', 'bin', 'python');
/** Whether the processing job can run here (the venv is installed: scripts/setup-python.sh). */
export const hasPython = existsSync(REAL_PYTHON);
/**
 * The python tests run the processing job with: during a vitest run the fork server's stand-in (test/global-setup.ts),
 * which runs `python ARGV` in a fork of an interpreter that has the job's libraries imported (same argv, cwd,
 * environment, stdio, exit code and signals), else the venv's python.
 */
export const PYTHON = process.env.VIDEOBOT_TEST_FORK_PYTHON || REAL_PYTHON;

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
