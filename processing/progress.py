"""Writes progress.json atomically at each phase change and denoising step."""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

PHASES = ("loading", "denoising", "decoding", "encoding", "done")

Observer = Callable[[dict], None]


def write_json_atomic(path: Path, payload: dict) -> None:
    """Readers (the bot, S3 continuous upload) never see a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Progress:
    """Phase/step reporter; `observer` sees every payload written (tests use it)."""

    def __init__(self, output_dir: Path, *, clock: Callable[[], float] = time.monotonic,
                 observer: Observer | None = None):
        self.path = output_dir / "progress.json"
        self._clock = clock
        self._observer = observer
        self._started = clock()
        self._phase_started: dict[str, float] = {}
        self._phase_ended: dict[str, float] = {}
        self.phase_name: str | None = None
        self.step_index = 0
        self.total = 0
        self._step_at: list[float] = []  # the denoising phase's start, then each step's end

    def phase(self, name: str, *, total: int = 0) -> None:
        if name not in PHASES:
            raise ValueError(f"unknown phase {name!r}")
        now = self._clock()
        if self.phase_name is not None:
            self._phase_ended[self.phase_name] = now
        self._phase_started[name] = now
        self.phase_name = name
        self.step_index = 0
        self.total = total
        if name == "denoising":
            self._step_at = [now]
        self._write(eta_s=None)

    def step(self, k: int) -> None:
        self.step_index = k
        now = self._clock()
        if self.phase_name == "denoising":
            self._step_at.append(now)
        elapsed = now - self._phase_started[self.phase_name]
        eta = elapsed / k * (self.total - k) if k > 0 else None
        self._write(eta_s=round(eta, 2) if eta is not None else None)

    def step_times(self) -> dict | None:
        """The denoising steps' wall time between step callbacks (metadata.json `runtime.denoise_steps_s`):
        the first (prompt encoding and, where it was not prewarmed, the compile) apart from the median of the
        rest, so a job's step can be compared with the bench's. None before two steps."""
        gaps = [b - a for a, b in zip(self._step_at, self._step_at[1:])]
        if len(gaps) < 2:
            return None
        return {"steps": len(gaps), "first": round(gaps[0], 3), "median": round(statistics.median(gaps[1:]), 4),
                "max": round(max(gaps[1:]), 4)}

    def timings(self) -> dict[str, float]:
        """Seconds spent in each phase so far (the current one up to now), in phase order."""
        now = self._clock()
        return {name: round(self._phase_ended.get(name, now) - self._phase_started[name], 3)
                for name in PHASES if name in self._phase_started}

    def _write(self, *, eta_s: float | None) -> None:
        payload = {
            "phase": self.phase_name,
            "step": self.step_index,
            "total": self.total,
            "eta_s": eta_s,
            "elapsed_s": round(self._clock() - self._started, 3),
            "updated_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        }
        write_json_atomic(self.path, payload)
        if self._observer is not None:
            self._observer(payload)
