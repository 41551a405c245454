"""Every bad job.json becomes the right error.json and exit code, before any model loads."""
from __future__ import annotations

import pytest

from processing.errors import EXIT_CODES
from processing.tests.support import run_job

GOOD = {"id": "j_test", "mode": "t2v", "model": "cogvideox-5b", "prompt": "a cat surfing", "seed": 1}

HTML = b"<!doctype html><html><body>not an image</body></html>"
TRUNCATED_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00"


def fails_with(job_dir, tmp_path, job, code, *, files=None, message_has=()):
    outcome = run_job(job_dir(job, files), tmp_path / "out")
    error = outcome.json("error.json")
    assert error["code"] == code, error
    assert outcome.exit_code == EXIT_CODES[code]
    assert error["retryable"] is False
    for fragment in message_has:
        assert fragment in error["message"]
    assert not (tmp_path / "out" / "video.mp4").exists()
    return error


@pytest.mark.parametrize("job, code, message_has", [
    ({k: v for k, v in GOOD.items() if k != "prompt"}, "INVALID_JOB", ["prompt"]),
    ({**GOOD, "prompt": "   "}, "INVALID_JOB", ["prompt"]),
    ({**GOOD, "prompt": 42}, "INVALID_JOB", ["prompt"]),
    ({**GOOD, "frames": 50}, "INVALID_JOB",
     ["CogVideoX-5B needs 8N+1 frames between 9 and 49 (e.g. 49); got 50."]),
    # 41 is a valid 8N+1 count for the 1.0 models but not 16N+1 for 1.5 (49 = 16*3+1 is valid there).
    ({**GOOD, "model": "cogvideox1.5-5b", "frames": 41, "height": 768, "width": 1360}, "INVALID_JOB",
     ["CogVideoX1.5-5B needs 16N+1 frames between 17 and 161 (e.g. 81); got 41."]),
    ({**GOOD, "model": "cogvideox1.5-5b", "frames": 177, "height": 768, "width": 1360}, "INVALID_JOB",
     ["got 177"]),
    ({**GOOD, "model": "cogvideox1.5-5b", "height": 480, "width": 720}, "INVALID_JOB", ["1360x768"]),
    ({**GOOD, "model": "cogvideox-5b-i2v", "mode": "i2v", "frames": 41, "image": "x.png"}, "INVALID_JOB",
     ["exactly 49 frames"]),
    ({**GOOD, "steps": 0}, "INVALID_JOB", ["steps"]),
    ({**GOOD, "steps": 2.5}, "INVALID_JOB", ["steps"]),
    ({**GOOD, "guidance": 25}, "INVALID_JOB", ["guidance between 1 and 20"]),
    ({**GOOD, "height": 720, "width": 480}, "INVALID_JOB", ["720x480 video; got 480x720"]),
    ({**GOOD, "mode": "v2v"}, "INVALID_JOB", ["mode"]),
    ({**GOOD, "mode": "i2v"}, "INVALID_JOB", ["does not do i2v"]),
    ({**GOOD, "seed": -3}, "INVALID_JOB", ["seed"]),
    ({**GOOD, "fps": 0}, "INVALID_JOB", ["fps"]),
    ({**GOOD, "model": "tiny-random", "mode": "i2v"}, "INVALID_JOB", ["needs an image"]),
    ({**GOOD, "model": "tiny-random", "mode": "i2v", "image": "../etc/passwd"}, "INVALID_JOB", ["inside"]),
    ({**GOOD, "model": "sora-9000"}, "UNKNOWN_MODEL", ["sora-9000", "cogvideox-5b", "tiny-random"]),
    ([1, 2, 3], "INVALID_JOB", ["JSON object"]),
])
def test_invalid_jobs(job_dir, tmp_path, job, code, message_has):
    fails_with(job_dir, tmp_path, job, code, message_has=message_has)


def test_bad_json(job_dir, tmp_path):
    fails_with(job_dir, tmp_path, '{"prompt": "a cat", ', "INVALID_JOB", message_has=["not valid JSON"])


def test_missing_job_json(tmp_path):
    (tmp_path / "input").mkdir()
    outcome = run_job(tmp_path / "input", tmp_path / "out")
    assert outcome.exit_code == 2 and outcome.json("error.json")["code"] == "INVALID_JOB"


I2V = {**GOOD, "model": "tiny-random", "mode": "i2v", "image": "image.png"}


@pytest.mark.parametrize("files, message_has", [
    ({}, "not found"),
    ({"image.png": HTML}, "not an image"),
    ({"image.png": TRUNCATED_PNG}, "not an image"),
    ({"image.png": b""}, "not an image"),
])
def test_bad_images(job_dir, tmp_path, files, message_has):
    fails_with(job_dir, tmp_path, I2V, "INVALID_IMAGE", files=files, message_has=[message_has])


def test_model_not_available_names_the_path(job_dir, tmp_path):
    error = fails_with(job_dir, tmp_path, GOOD, "MODEL_NOT_AVAILABLE")
    assert str(tmp_path / "models-empty" / "cogvideox-5b") in error["message"]


def test_valid_job_reaches_model_loading(job_dir, tmp_path):
    """49 frames is 16*3+1, so cogvideox1.5-5b accepts it (per presets.json); loading is what fails here."""
    job = {**GOOD, "model": "cogvideox1.5-5b", "frames": 49, "height": 768, "width": 1360}
    fails_with(job_dir, tmp_path, job, "MODEL_NOT_AVAILABLE")


def test_failure_message_goes_to_sagemaker(job_dir, tmp_path):
    sagemaker = tmp_path / "opt-ml-output"
    sagemaker.mkdir()
    outcome = run_job(job_dir({**GOOD, "frames": 50}), tmp_path / "out", sagemaker_output=sagemaker)
    assert outcome.exit_code == 2
    assert (sagemaker / "message").read_text() == outcome.json("error.json")["message"]


def test_stale_outputs_are_cleared(job_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "video.mp4").write_bytes(b"old")
    run_job(job_dir({**GOOD, "prompt": ""}), out)
    assert not (out / "video.mp4").exists()
