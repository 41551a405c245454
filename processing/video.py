"""Encodes RGB frames to H.264 MP4 with imageio-ffmpeg's bundled ffmpeg, plus the poster and a probe."""
from __future__ import annotations

import os
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Pipeline frames are float in [0, 1], shaped (frames, height, width, 3)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (frames, height, width, 3), got {frames.shape}")
    return np.ascontiguousarray((np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8))


def encode_mp4(frames: np.ndarray, path: Path, fps: int, *, crf: int = 18) -> None:
    """Pipes raw RGB into libx264 (yuv420p, faststart); the file appears only when complete."""
    rgb = to_uint8(frames)
    count, height, width, _ = rgb.shape
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
        "-an", "-c:v", "libx264", "-preset", "medium", "-crf", str(crf),
        "-pix_fmt", "yuv420p", "-r", str(fps), "-frames:v", str(count),
        "-movflags", "+faststart", "-f", "mp4", str(tmp),
    ]
    proc = subprocess.run(cmd, input=rgb.tobytes(), capture_output=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    os.replace(tmp, path)


def write_poster(frames: np.ndarray, path: Path, *, quality: int = 90) -> None:
    Image.fromarray(to_uint8(frames[:1])[0]).save(path, format="JPEG", quality=quality)


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    frames: int
    faststart: bool


def probe(path: Path) -> VideoInfo:
    """Reads an MP4's first video stream with ffmpeg alone (no ffprobe is bundled)."""
    exe = ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    stream = re.search(r"Stream #\S+.*?: Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+).*?, ([\d.]+) fps", info)
    if not stream:
        raise ValueError(f"no video stream in {path}: {info[-500:]}")
    # Decoding counts frames exactly (ffmpeg 7 reports no count for a stream copy).
    counted = subprocess.run([exe, "-hide_banner", "-nostats", "-i", str(path), "-map", "0:v:0",
                              "-f", "null", "-progress", "pipe:1", "-"], capture_output=True, text=True).stdout
    frames = re.findall(r"^frame=(\d+)$", counted, flags=re.M)
    return VideoInfo(
        codec=stream.group(1), pix_fmt=stream.group(2),
        width=int(stream.group(3)), height=int(stream.group(4)), fps=float(stream.group(5)),
        frames=int(frames[-1]) if frames else 0, faststart=_moov_before_mdat(path),
    )


def _moov_before_mdat(path: Path) -> bool:
    """Walks the MP4's top-level boxes: faststart puts `moov` ahead of `mdat`."""
    order = []
    with path.open("rb") as f:
        while header := f.read(8):
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
                f.seek(size - 16, os.SEEK_CUR)
            elif size == 0:
                order.append(kind)
                break
            else:
                f.seek(size - 8, os.SEEK_CUR)
            order.append(kind)
    return b"moov" in order and b"mdat" in order and order.index(b"moov") < order.index(b"mdat")
