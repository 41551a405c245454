"""Helpers shared by the test modules: run `main` in-process and read what it wrote."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from processing.cli import main


@dataclass
class Outcome:
    exit_code: int
    output_dir: Path
    progress: list[dict] = field(default_factory=list)

    def json(self, name: str) -> dict:
        return json.loads((self.output_dir / name).read_text())


def run_job(input_dir: Path, output_dir: Path, *extra: str, sagemaker_output: Path | None = None) -> Outcome:
    seen: list[dict] = []
    code = main(["run", "--input-dir", str(input_dir), "--output-dir", str(output_dir),
                 "--models-dir", str(output_dir.parent / "models-empty"), "--device", "cpu", *extra],
                observer=seen.append,
                sagemaker_output=sagemaker_output or output_dir.parent / "no-sagemaker")
    return Outcome(code, output_dir, seen)
