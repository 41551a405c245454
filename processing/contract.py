"""The processing contract on the job's side: where job.json is read, and how error.json, the SageMaker
failure message and metadata.json are written (progress.json: processing/progress.py). The bot's side is
bot/core/contract.ts; both are checked against test/fixtures/contract/."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from processing.errors import JobError
from processing.progress import write_json_atomic

log = logging.getLogger("processing")

JOB_FILE = "job.json"
OUTPUT_FILES = ("progress.json", "video.mp4", "poster.jpg", "metadata.json", "error.json")
VIDEO_FILE, POSTER_FILE, METADATA_FILE, ERROR_FILE = "video.mp4", "poster.jpg", "metadata.json", "error.json"
SAGEMAKER_OUTPUT = Path("/opt/ml/output")


def invalid(message: str) -> JobError:
    return JobError("INVALID_JOB", message, retryable=False)


def read_job_file(input_dir: Path) -> object:
    """job.json as parsed JSON (validation.validate_job checks its shape)."""
    path = input_dir / JOB_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise invalid(f"No job.json was found in {input_dir}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid(f"job.json is not valid JSON ({exc.__class__.__name__}).") from exc


def clear_outputs(output_dir: Path) -> None:
    """A rerun into the same dir must never leave a stale video next to a new error."""
    for name in OUTPUT_FILES:
        (output_dir / name).unlink(missing_ok=True)


def write_metadata(output_dir: Path, metadata: dict) -> None:
    write_json_atomic(output_dir / METADATA_FILE, metadata)


def report_failure(error: JobError, output_dir: Path, sagemaker_output: Path) -> None:
    """error.json, and on SageMaker the job's failure message (its ExitMessage)."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(output_dir / ERROR_FILE, error.to_json())
    except OSError:
        log.exception("could not write error.json")
    if sagemaker_output.is_dir():
        try:
            (sagemaker_output / "message").write_text(error.message, encoding="utf-8")
        except OSError:
            log.exception("could not write the SageMaker failure message")
