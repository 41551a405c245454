"""The processing contract on the job's side against the golden files in test/fixtures/contract/, which
test/core/contract.test.ts checks against the bot: the two sides cannot drift apart. Also limits.json, the one
source of limits and error codes, and the seed's CPU generator."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from processing import contract, job as job_module, validation
from processing import pipeline
from processing.errors import EXIT_CODES, JobError
from processing.limits import LIMITS, LIMITS_PATH
from processing.presets import load_presets
from processing.progress import PHASES, Progress

FIXTURES = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "contract"
PROCESSING = Path(__file__).resolve().parents[1]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def validate(raw: dict, tmp_path: Path):
    return validation.validate_job(raw, tmp_path, load_presets())


def test_job_json_written_by_the_bot_is_accepted_as_written(tmp_path):
    raw = fixture("job.json")
    job, preset = validate(raw, tmp_path)
    assert preset.name == raw["model"]
    read = dataclasses.asdict(job)
    read["image"] = job.image.name
    # every field the bot writes is one the job reads, with the value the bot meant
    assert {key: read[key] for key in raw} == raw


def test_job_json_fields_are_the_jobs_fields():
    fields = {f.name for f in dataclasses.fields(validation.Job)}
    # job.json names the image of an i2v job; job-extend.json the clip an Extend continues instead
    assert set(fixture("job.json")) | set(fixture("job-extend.json")) == fields


def test_extend_job_json_written_by_the_bot_is_accepted_as_written(tmp_path):
    raw = fixture("job-extend.json")
    job, preset = validate(raw, tmp_path)
    read = {**dataclasses.asdict(job), "parent_video": job.parent_video.name}
    assert preset.name == raw["model"] and job.image is None
    assert {key: read[key] for key in raw} == raw


def test_combine_job_json_written_by_the_bot_is_accepted_as_written(tmp_path):
    from processing import combine

    raw = fixture("job-combine.json")
    for name in raw["clips"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "job.json").write_text(json.dumps(raw))
    assert combine.is_combine_job(tmp_path)
    job = combine.validate_combine(raw, tmp_path)
    assert (job.id, [c.name for c in job.clips]) == (raw["id"], raw["clips"])


def test_progress_json_as_the_bot_reads_it(tmp_path):
    now = [0.0]
    written: list[dict] = []
    progress = Progress(tmp_path, clock=lambda: now[0], observer=written.append)
    progress.phase("loading")
    now[0] = 9.5
    progress.phase("denoising", total=4)
    now[0] = 12.5
    progress.step(3)
    on_disk = json.loads((tmp_path / "progress.json").read_text(encoding="utf-8"))
    golden = fixture("progress.json")
    assert on_disk == written[-1]
    assert set(on_disk) == set(golden)
    assert {k: v for k, v in on_disk.items() if k != "updated_at"} == {k: v for k, v in golden.items() if k != "updated_at"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", on_disk["updated_at"])


def test_progress_times_the_denoising_steps(tmp_path):
    now = [0.0]
    progress = Progress(tmp_path, clock=lambda: now[0])
    progress.phase("loading")
    now[0] = 5.0
    progress.phase("denoising", total=4)
    assert progress.step_times() is None
    for k, at in enumerate((7.0, 8.0, 9.5, 10.5), start=1):  # the first step includes the prompt's encoding
        now[0] = at
        progress.step(k)
    progress.phase("decoding")
    progress.step(1)  # a step outside denoising is not a denoising step
    assert progress.step_times() == {"steps": 4, "first": 2.0, "median": 1.0, "max": 1.5}


def test_error_json_as_the_bot_reads_it(tmp_path):
    error = job_module.out_of_memory("none")
    assert error.to_json() == fixture("error.json")
    contract.report_failure(error, tmp_path, tmp_path / "no-sagemaker")
    assert json.loads((tmp_path / "error.json").read_text(encoding="utf-8")) == fixture("error.json")


def test_metadata_json_golden_file_matches_the_job():
    metadata = fixture("metadata.json")
    assert set(metadata["job"]) == {f.name for f in dataclasses.fields(validation.Job)}
    assert set(metadata["timings_s"]) <= {*PHASES, "total"}
    assert metadata["phases"][-1] == "done"
    assert metadata["output"]["video"] == "video.mp4" and metadata["output"]["poster"] == "poster.jpg"
    assert {"video.mp4", "poster.jpg", "metadata.json", "progress.json", "error.json"} == set(contract.OUTPUT_FILES)


# --- limits.json ---------------------------------------------------------------------------------

def test_limits_are_read_from_the_shared_file():
    raw = json.loads(LIMITS_PATH.read_text(encoding="utf-8"))
    assert validation.MAX_PROMPT_CHARS == raw["prompt"]["max_chars"]
    assert (LIMITS.seed_min, validation.MAX_SEED) == (raw["seed"]["min"], raw["seed"]["max"])
    from processing import images
    assert (images.MAX_FILE_BYTES, images.MAX_PIXELS) == (raw["image"]["max_bytes"], raw["image"]["max_pixels"])


def test_the_job_enforces_the_shared_prompt_and_seed_limits(tmp_path):
    base = {"model": "tiny-random", "prompt": "a bee"}
    assert validate({**base, "seed": LIMITS.seed_max}, tmp_path)[0].seed == LIMITS.seed_max
    for seed in (LIMITS.seed_max + 1, LIMITS.seed_min - 1):
        with pytest.raises(JobError) as refused:
            validate({**base, "seed": seed}, tmp_path)
        assert refused.value.code == "INVALID_JOB"
        assert refused.value.message == f"'seed' must be between 0 and 4294967295; got {seed}."
    assert validate({**base, "prompt": "a" * LIMITS.max_prompt_chars}, tmp_path)[0].prompt
    with pytest.raises(JobError, match="at most 2000"):
        validate({**base, "prompt": "a" * (LIMITS.max_prompt_chars + 1)}, tmp_path)


def test_the_default_seed_is_drawn_from_the_shared_range(tmp_path, monkeypatch):
    import secrets
    monkeypatch.setattr(secrets, "randbelow", lambda n: n - 1)  # the top of the draw
    job, _ = validate({"model": "tiny-random", "prompt": "a bee"}, tmp_path)
    assert job.seed == LIMITS.seed_max


def test_every_code_the_job_raises_is_in_limits_json_with_its_flag():
    raised = set()
    for path in PROCESSING.glob("*.py"):
        raised |= set(re.findall(r'JobError\(\s*"([A-Z_]+)"', path.read_text(encoding="utf-8")))
    assert raised and raised <= set(EXIT_CODES)
    raw = json.loads(LIMITS_PATH.read_text(encoding="utf-8"))["errors"]
    for code in EXIT_CODES:
        assert JobError(code, "x").retryable is raw[code]["retryable"], code
        assert JobError(code, "x").exit_code == raw[code]["exit_code"], code
    with pytest.raises(ValueError):
        JobError("TIMEOUT", "the bot's code, not the job's")


# --- seeds ---------------------------------------------------------------------------------------

class CapturingPipe:
    """Stands in for a diffusers pipeline: draws the initial latents from the generator it is given, as
    CogVideoX's prepare_latents does (diffusers.utils.torch_utils.randn_tensor)."""

    def __init__(self):
        self.latents = None

    def __call__(self, *, generator, num_frames, height, width, **_):
        import numpy as np
        import torch
        from diffusers.utils.torch_utils import randn_tensor

        self.latents = randn_tensor((1, 3, 16, 8, 12), generator=generator, device=torch.device("cpu"))

        class Result:
            frames = [np.zeros((num_frames, height, width, 3), dtype=np.float32)]
        return Result()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_seed_gives_the_same_initial_latents_whatever_the_device(device):
    import torch

    preset = load_presets().get("tiny-random")
    pipe = CapturingPipe()
    pipeline.generate(pipe, preset=preset, mode="t2v", prompt="a bee", negative_prompt="", seed=42, frames=9,
                      steps=2, guidance=6.0, height=64, width=96, device=device)
    expected = torch.randn((1, 3, 16, 8, 12), generator=torch.Generator(device="cpu").manual_seed(42))
    assert torch.equal(pipe.latents, expected)
    assert pipeline.seed_generator(42).device.type == "cpu"
