"""Shared fixtures: a job folder factory."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def job_dir(tmp_path):
    """Writes job.json (a dict, or raw text) plus optional files into a fresh input dir."""
    def make(job, files: dict[str, bytes] | None = None) -> Path:
        input_dir = tmp_path / "input"
        input_dir.mkdir(exist_ok=True)
        text = job if isinstance(job, str) else json.dumps(job)
        (input_dir / "job.json").write_text(text)
        for name, data in (files or {}).items():
            (input_dir / name).write_bytes(data)
        return input_dir
    return make
