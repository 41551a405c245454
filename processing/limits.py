"""Limits and error codes shared with the bot, loaded from limits.json (bot/core/limits.ts reads the same file)."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

LIMITS_PATH = Path(__file__).with_name("limits.json")


@dataclass(frozen=True)
class ErrorCode:
    code: str
    exit_code: int | None  # None: the bot's own code, never a job's exit status
    retryable: bool  # a Retry can help (the default when error.json does not say)
    auto_retry: bool  # the bot tries the job again by itself
    message: str | None  # the default sentence, when the source gave none


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int
    seed_min: int
    seed_max: int
    image_max_bytes: int
    image_max_pixels: int
    errors: dict[str, ErrorCode]

    def random_seed(self) -> int:
        """The default seed when job.json names none: uniform over the whole shared range."""
        return self.seed_min + secrets.randbelow(self.seed_max - self.seed_min + 1)

    def job_codes(self) -> dict[str, ErrorCode]:
        """The codes a job may write to error.json (those with an exit code)."""
        return {code: e for code, e in self.errors.items() if e.exit_code is not None}


def load_limits(path: Path = LIMITS_PATH) -> Limits:
    raw = json.loads(path.read_text(encoding="utf-8"))
    errors = {code: ErrorCode(code=code, exit_code=body["exit_code"], retryable=bool(body["retryable"]),
                              auto_retry=bool(body["auto_retry"]), message=body["message"])
              for code, body in raw["errors"].items()}
    return Limits(max_prompt_chars=int(raw["prompt"]["max_chars"]), seed_min=int(raw["seed"]["min"]),
                  seed_max=int(raw["seed"]["max"]), image_max_bytes=int(raw["image"]["max_bytes"]),
                  image_max_pixels=int(raw["image"]["max_pixels"]), errors=errors)


LIMITS = load_limits()
