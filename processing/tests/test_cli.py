"""The entry point as the bot and SageMaker call it: `python -m processing ...` in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from processing.cli import parse_args

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_run_is_the_default_command_and_fails_cleanly(job_dir, tmp_path):
    input_dir = job_dir({"model": "cogvideox-5b", "prompt": "a cat", "frames": 50})
    result = cli("--input-dir", str(input_dir), "--output-dir", str(tmp_path / "out"), "--log-level", "info")
    assert result.returncode == 2
    error = json.loads((tmp_path / "out" / "error.json").read_text())
    assert error == {"code": "INVALID_JOB", "retryable": False,
                     "message": "CogVideoX-5B needs 8N+1 frames between 9 and 49 (e.g. 49); got 50."}
    assert "\x1b[" not in result.stderr and "INVALID_JOB" in result.stderr
    assert result.stdout == ""


def test_probe_prints_one_json_line():
    result = cli("probe")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    info = json.loads(lines[0])
    assert set(info) == {"cuda", "device_name", "total_gib", "free_gib", "torch"}
    assert isinstance(info["cuda"], bool) and info["torch"].count(".") == 1
    if not info["cuda"]:
        assert info["device_name"] is info["total_gib"] is info["free_gib"] is None


def test_stage_argument_handling(tmp_path):
    assert cli("stage", "--model", "nope", "--dest", str(tmp_path)).returncode == 2
    assert cli("stage", "--model", "tiny-random", "--dest", str(tmp_path)).returncode == 0
    assert cli("stage", "--dest", str(tmp_path)).returncode == 2  # --model is required


@pytest.mark.parametrize("argv", [
    ["--device", "gpu"], ["--memory-plan", "lots"], ["--image-fit", "stretch"], ["--log-level", "loud"],
])
def test_flags_are_checked(argv):
    with pytest.raises(SystemExit) as info:
        parse_args(["run", *argv])
    assert info.value.code == 2


def test_defaults_match_sagemaker():
    args = parse_args([])
    assert args.command == "run"
    assert (args.input_dir, args.output_dir, args.models_dir) == (
        Path("/opt/ml/processing/input"), Path("/opt/ml/processing/output"), Path("/opt/ml/processing/models"))
    assert (args.device, args.memory_plan, args.image_fit, args.allow_download) == ("auto", "auto", None, False)
    explicit = parse_args(["run", "--device", "cpu", "--memory-plan", "sequential", "--image-fit", "pad",
                           "--allow-download"])
    assert (explicit.device, explicit.memory_plan, explicit.image_fit, explicit.allow_download) == (
        "cpu", "sequential", "pad", True)
