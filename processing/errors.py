"""The job's typed failures: each carries the code, user-facing sentence and exit code of error.json."""
from __future__ import annotations

from processing.limits import LIMITS

# Codes, exit codes and retryable flags come from limits.json, shared with the bot.
EXIT_CODES = {code: e.exit_code for code, e in LIMITS.job_codes().items()}


class JobError(Exception):
    """A failure the chat user is told about; `message` is one readable sentence.

    `retryable` defaults to the code's flag in limits.json; a caller that knows better for this one
    failure (INTERNAL_ERROR because the GPU went away) may say so."""

    def __init__(self, code: str, message: str, *, retryable: bool | None = None):
        if code not in EXIT_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = LIMITS.errors[code].retryable if retryable is None else retryable

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.code]

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}
