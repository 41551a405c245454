"""Extend: continues a finished clip from its last frame and writes the joined video.

job.json is an image-to-video job whose `parent_video` names the clip (parent.mp4, bot/core/extend.ts) instead of an
`image`. The clip's last frame is the start image; the continuation's first frame is therefore that same frame, so
the joined video is the clip, unchanged (stream copy), followed by the continuation from its second frame on: nothing
repeats and nothing is dropped at the seam.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from processing import combine, video
from processing.contract import POSTER_FILE, VIDEO_FILE, invalid
from processing.progress import Progress


def read_frames(path: Path) -> tuple[np.ndarray, float]:
    """Every frame of an MP4 as uint8 RGB (frames, height, width, 3), and its frame rate."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3) for raw in reader]
    return np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8), float(meta["fps"])


def last_frame(path: Path, height: int, width: int, fps: int):
    """The clip's last frame as a PIL image, the start image of the continuation; INVALID_JOB when it cannot be."""
    from PIL import Image

    if not path.is_file():
        raise invalid(f"The clip to extend ({path.name}) is missing from the job's input.")
    try:
        frames, clip_fps = read_frames(path)
    except (OSError, RuntimeError, StopIteration) as exc:
        raise invalid(f"The clip to extend ({path.name}) cannot be read as a video.") from exc
    if len(frames) == 0:
        raise invalid(f"The clip to extend ({path.name}) has no frames.")
    if frames.shape[1:3] != (height, width):
        raise invalid(f"The clip to extend is {frames.shape[2]}x{frames.shape[1]}, but this model continues "
                      f"{width}x{height} video.")
    if abs(clip_fps - fps) > 0.01:
        raise invalid(f"The clip to extend plays at {clip_fps:g} fps, but this model makes {fps} fps video.")
    return Image.fromarray(frames[-1])


def encode_joined(frames: np.ndarray, parent: Path, fps: int, output_dir: Path, progress: Progress) -> tuple[Path, int]:
    """video.mp4 = the clip + the continuation from its second frame (its first is the clip's last); the poster is
    the joined video's first frame. Returns the video's path and its frame count."""
    progress.phase("encoding")
    tail = output_dir / ".continuation.mp4"
    out = output_dir / VIDEO_FILE
    try:
        video.encode_mp4(frames[1:], tail, fps)
        combine.concat([parent, tail], out)
    finally:
        tail.unlink(missing_ok=True)
    combine.write_poster_from(out, output_dir / POSTER_FILE)
    return out, video.probe(out).frames
