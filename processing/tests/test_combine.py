"""Combine: clips joined in order by stream copy (real ffmpeg), or CLIPS_DIFFER naming the clip that differs."""
from __future__ import annotations

import numpy as np
import pytest

from processing import combine
from processing.errors import EXIT_CODES
from processing.extend import read_frames
from processing.tests.support import run_job
from processing.video import encode_mp4, probe


def clip(path, frames: int, *, fps: int = 8, size=(64, 96), shade: int = 0):
    """An MP4 whose frame i is a flat grey of a level unique to (shade, i), so frames can be told apart after decoding."""
    h, w = size
    levels = [(shade * 97 + i * 23) % 200 + 20 for i in range(frames)]
    encode_mp4(np.stack([np.full((h, w, 3), lv / 255.0) for lv in levels]), path, fps)
    return levels


def test_joins_clips_in_order_without_re_encoding(job_dir, tmp_path):
    first = tmp_path / "a.mp4"
    second = tmp_path / "b.mp4"
    a_levels = clip(first, 9)
    b_levels = clip(second, 17, shade=1)
    input_dir = job_dir({"id": "jc", "mode": "combine", "clips": ["clip-0.mp4", "clip-1.mp4", "clip-2.mp4"]},
                        {"clip-0.mp4": first.read_bytes(), "clip-1.mp4": second.read_bytes(),
                         "clip-2.mp4": first.read_bytes()})
    outcome = run_job(input_dir, tmp_path / "out")

    assert outcome.exit_code == 0, outcome.json("error.json") if (outcome.output_dir / "error.json").exists() else None
    info = probe(outcome.output_dir / "video.mp4")
    assert (info.frames, info.fps, info.width, info.height, info.codec, info.faststart) == (35, 8.0, 96, 64, "h264", True)
    joined, _ = read_frames(outcome.output_dir / "video.mp4")
    parts = [read_frames(first)[0], read_frames(second)[0], read_frames(first)[0]]
    # Stream copy: every frame decodes exactly as it did in its clip, in the order given.
    assert np.array_equal(joined, np.concatenate(parts))
    assert [int(round(f.mean())) for f in joined[:9]] == pytest.approx(a_levels, abs=2)
    assert [int(round(f.mean())) for f in joined[9:26]] == pytest.approx(b_levels, abs=2)
    meta = outcome.json("metadata.json")
    assert meta["output"]["frames"] == 35 and [c["file"] for c in meta["clips"]] == ["clip-0.mp4", "clip-1.mp4", "clip-2.mp4"]
    assert [p["phase"] for p in outcome.progress][-1] == "done"
    assert (outcome.output_dir / "poster.jpg").stat().st_size > 0


@pytest.mark.parametrize("other, says", [
    ({"fps": 16}, "Clip 2 is 96x64 at 16 fps (h264, yuv420p) but clip 1 is 96x64 at 8 fps"),
    ({"size": (48, 96)}, "Clip 2 is 96x48 at 8 fps"),
])
def test_clips_that_differ_fail_with_one_sentence_naming_the_clip(job_dir, tmp_path, other, says):
    clip(tmp_path / "a.mp4", 9)
    clip(tmp_path / "b.mp4", 9, **other)
    input_dir = job_dir({"id": "jc", "mode": "combine", "clips": ["clip-0.mp4", "clip-1.mp4"]},
                        {"clip-0.mp4": (tmp_path / "a.mp4").read_bytes(), "clip-1.mp4": (tmp_path / "b.mp4").read_bytes()})
    outcome = run_job(input_dir, tmp_path / "out")
    assert outcome.exit_code == EXIT_CODES["CLIPS_DIFFER"]
    error = outcome.json("error.json")
    assert error["code"] == "CLIPS_DIFFER" and error["message"].startswith(says)
    assert not (outcome.output_dir / "video.mp4").exists()


@pytest.mark.parametrize("job, says", [
    ({"clips": ["clip-0.mp4"]}, "Combine joins 2 to 10 clips; got 1."),
    ({"clips": ["clip-0.mp4", "../x.mp4"]}, "Each clip must be a file name inside the job's input."),
    ({"clips": ["clip-0.mp4", "clip-9.mp4"]}, "Clip 2 (clip-9.mp4) is missing from the job's input."),
    ({"clips": "clip-0.mp4"}, "'clips' must be a list of file names."),
])
def test_a_bad_clip_list_is_an_invalid_job(job_dir, tmp_path, job, says):
    clip(tmp_path / "a.mp4", 9)
    input_dir = job_dir({"id": "jc", "mode": "combine", **job}, {"clip-0.mp4": (tmp_path / "a.mp4").read_bytes()})
    outcome = run_job(input_dir, tmp_path / "out")
    assert outcome.exit_code == EXIT_CODES["INVALID_JOB"]
    assert outcome.json("error.json")["message"] == says


def test_only_mode_combine_takes_the_combine_path(job_dir):
    assert combine.is_combine_job(job_dir({"mode": "combine", "clips": []}))
    assert not combine.is_combine_job(job_dir({"mode": "t2v", "prompt": "x"}))
    assert not combine.is_combine_job(job_dir("not json"))
