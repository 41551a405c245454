"""Combine: joins finished clips, in order, into one MP4 without a model.

job.json: {"id": ..., "mode": "combine", "clips": ["clip-0.mp4", "clip-1.mp4", ...]} (bot/core/combine.ts). Every
clip must have the same codec, pixel format, size and frame rate, or the job fails with CLIPS_DIFFER naming the clip
that differs; then ffmpeg's concat demuxer joins them with stream copy (no re-encoding, so nothing is lost). Extend
(processing/extend.py) joins a clip and its continuation the same way.
"""
from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from processing import video
from processing.contract import JOB_FILE, METADATA_FILE, POSTER_FILE, VIDEO_FILE, invalid, read_job_file
from processing.errors import JobError
from processing.progress import Observer, Progress, write_json_atomic

log = logging.getLogger("processing")

MODE = "combine"
MAX_CLIPS = 10  # bot/core/combine.ts MAX_COMBINE_CLIPS


@dataclass(frozen=True)
class CombineJob:
    """A validated combine job.json: the clips to join, in order, each a file in the job's input."""
    id: str
    clips: tuple[Path, ...]


def is_combine_job(input_dir: Path) -> bool:
    """Whether job.json asks for a Combine (read again by validate_combine; a broken file is the run's to report)."""
    try:
        raw = read_job_file(input_dir)
    except JobError:
        return False
    return isinstance(raw, dict) and raw.get("mode") == MODE


def validate_combine(raw: object, input_dir: Path) -> CombineJob:
    if not isinstance(raw, dict) or raw.get("mode") != MODE:
        raise invalid(f"{JOB_FILE} is not a combine job.")
    names = raw.get("clips")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise invalid("'clips' must be a list of file names.")
    if not 2 <= len(names) <= MAX_CLIPS:
        raise invalid(f"Combine joins 2 to {MAX_CLIPS} clips; got {len(names)}.")
    root = input_dir.resolve()
    clips = []
    for number, name in enumerate(names, start=1):
        path = (input_dir / name).resolve()
        if root not in path.parents:
            raise invalid("Each clip must be a file name inside the job's input.")
        if not path.is_file():
            raise invalid(f"Clip {number} ({name}) is missing from the job's input.")
        clips.append(path)
    job_id = raw.get("id")
    return CombineJob(id=job_id if isinstance(job_id, str) else "unnamed", clips=tuple(clips))


def _describe(info: video.VideoInfo) -> str:
    return f"{info.width}x{info.height} at {info.fps:g} fps ({info.codec}, {info.pix_fmt})"


def check_matching(infos: list[video.VideoInfo]) -> None:
    """Raises CLIPS_DIFFER naming the first clip that differs from clip 1 in codec, pixel format, size or fps."""
    first = infos[0]
    for number, info in enumerate(infos[1:], start=2):
        if (info.codec, info.pix_fmt, info.width, info.height, info.fps) != \
                (first.codec, first.pix_fmt, first.width, first.height, first.fps):
            raise JobError("CLIPS_DIFFER", f"Clip {number} is {_describe(info)} but clip 1 is {_describe(first)}; "
                                           "only clips of the same size, frame rate and codec can be joined.")


def concat(clips: list[Path], out: Path) -> None:
    """Joins MP4s of one codec, size and frame rate with the concat demuxer and stream copy; `out` appears complete."""
    listing = out.with_name(f".{out.stem}.concat.txt")
    # The demuxer's own quoting: a quote inside a path is closed, escaped and reopened.
    listing.write_text("".join("file '{}'\n".format(str(p).replace("'", "'\\''")) for p in clips), encoding="utf-8")
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    cmd = [video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
           "-i", str(listing), "-map", "0:v:0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg concat failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
        os.replace(tmp, out)
    finally:
        listing.unlink(missing_ok=True)


def write_poster_from(path: Path, poster: Path) -> None:
    """The first frame of an MP4 as the JPEG poster."""
    cmd = [video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(path),
           "-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", str(poster)]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg poster failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-500:]}")


def run(input_dir: Path, output_dir: Path, *, observer: Observer | None = None) -> Path:
    """Checks the clips, joins them into video.mp4, writes poster.jpg and metadata.json, then progress "done"."""
    started = time.monotonic()
    progress = Progress(output_dir, observer=observer)
    progress.phase("loading")
    job = validate_combine(read_job_file(input_dir), input_dir)
    infos = [video.probe(clip) for clip in job.clips]
    check_matching(infos)
    log.info("job %s: combining %d clips (%s)", job.id, len(job.clips), _describe(infos[0]))
    progress.phase("encoding")
    out = output_dir / VIDEO_FILE
    concat(list(job.clips), out)
    joined = video.probe(out)
    expected = sum(i.frames for i in infos)
    if joined.frames != expected:
        raise RuntimeError(f"the joined video has {joined.frames} frames, not the clips' {expected}")
    write_poster_from(out, output_dir / POSTER_FILE)
    write_json_atomic(output_dir / METADATA_FILE, {
        "job": {"id": job.id, "mode": MODE, "clips": [c.name for c in job.clips]},
        "clips": [{"file": c.name, **asdict(i)} for c, i in zip(job.clips, infos)],
        "timings_s": {**progress.timings(), "total": round(time.monotonic() - started, 3)},
        "phases": list(progress.timings()) + ["done"],
        "output": {"video": VIDEO_FILE, "poster": POSTER_FILE, "frames": joined.frames, "fps": joined.fps,
                   "height": joined.height, "width": joined.width, "codec": joined.codec, "pix_fmt": joined.pix_fmt},
    })
    progress.phase("done")
    return out
