"""Extend: tiny-random continues a clip from its last frame through the real pipeline, and the joined MP4 (real
ffmpeg) is the clip unchanged, then the continuation from its second frame: no repeated or dropped frame."""
from __future__ import annotations

import json

import numpy as np
import pytest

from processing import extend
from processing.errors import EXIT_CODES
from processing.extend import read_frames
from processing.tests.support import run_job
from processing.validation import validate_job
from processing.presets import load_presets
from processing.video import encode_mp4, probe

TINY = {"model": "tiny-random", "prompt": "a red fox in the snow", "seed": 7, "frames": 9, "steps": 2}


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A delivered tiny-random clip (9 frames, 96x64, 8 fps)."""
    root = tmp_path_factory.mktemp("parent")
    (root / "input").mkdir()
    (root / "input" / "job.json").write_text(json.dumps({**TINY, "id": "jparent", "mode": "t2v"}))
    outcome = run_job(root / "input", root / "out")
    assert outcome.exit_code == 0
    return root / "out" / "video.mp4"


@pytest.fixture(scope="module")
def extended(parent, tmp_path_factory):
    root = tmp_path_factory.mktemp("extend")
    (root / "input").mkdir()
    (root / "input" / "job.json").write_text(json.dumps(
        {**TINY, "id": "jext", "mode": "i2v", "seed": 8, "parent_video": "parent.mp4"}))
    (root / "input" / "parent.mp4").write_bytes(parent.read_bytes())
    return run_job(root / "input", root / "out")


def test_the_joined_video_is_the_clip_then_the_continuation_from_its_second_frame(parent, extended):
    assert extended.exit_code == 0, extended.json("error.json") if (extended.output_dir / "error.json").exists() else None
    clip, _ = read_frames(parent)
    joined, fps = read_frames(extended.output_dir / "video.mp4")
    info = probe(extended.output_dir / "video.mp4")
    # 9 + 9 − 1: the continuation's first frame is the clip's last, written once.
    assert len(joined) == info.frames == len(clip) + 9 - 1 == 17
    assert (info.width, info.height, fps, info.codec, info.pix_fmt, info.faststart) == (96, 64, 8.0, "h264", "yuv420p", True)
    # The clip is copied, not re-encoded: its frames decode exactly as before, the last one at index len(clip) − 1.
    assert np.array_equal(joined[:len(clip)], clip)
    assert np.array_equal(joined[len(clip) - 1], clip[-1])
    meta = extended.json("metadata.json")
    assert meta["extend"] == {"continuation_frames": 9, "joined_frames": 17}
    assert meta["output"]["frames"] == 17 and meta["job"]["parent_video"] == "parent.mp4"
    assert [p["phase"] for p in extended.progress][-1] == "done"


def test_the_start_image_is_the_clips_last_frame(tmp_path):
    levels = [30, 90, 150, 210]
    encode_mp4(np.stack([np.full((64, 96, 3), lv / 255.0) for lv in levels]), tmp_path / "p.mp4", 8)
    image = extend.last_frame(tmp_path / "p.mp4", 64, 96, 8)
    assert image.size == (96, 64) and abs(np.asarray(image).mean() - 210) < 3


@pytest.mark.parametrize("size, fps, says", [
    ((48, 96), 8, "The clip to extend is 96x48, but this model continues 96x64 video."),
    ((64, 96), 16, "The clip to extend plays at 16 fps, but this model makes 8 fps video."),
])
def test_a_clip_the_model_cannot_continue_is_refused_in_one_sentence(job_dir, tmp_path, size, fps, says):
    encode_mp4(np.zeros((9, *size, 3)), tmp_path / "p.mp4", fps)
    input_dir = job_dir({**TINY, "id": "jext", "mode": "i2v", "parent_video": "parent.mp4"},
                        {"parent.mp4": (tmp_path / "p.mp4").read_bytes()})
    outcome = run_job(input_dir, tmp_path / "out")
    assert outcome.exit_code == EXIT_CODES["INVALID_JOB"]
    assert outcome.json("error.json")["message"] == says


def test_parent_video_is_read_from_job_json_and_stays_inside_the_input(tmp_path):
    job, _ = validate_job({**TINY, "mode": "i2v", "parent_video": "parent.mp4"}, tmp_path, load_presets())
    assert job.parent_video == (tmp_path / "parent.mp4").resolve() and job.image is None
    with pytest.raises(Exception, match="'parent_video' must be a file name inside the job's input."):
        validate_job({**TINY, "mode": "i2v", "parent_video": "../parent.mp4"}, tmp_path, load_presets())
