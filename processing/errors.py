"""The job's typed failures: each carries the code, user-facing sentence and exit code of error.json."""
from __future__ import annotations

EXIT_CODES = {
    "INVALID_JOB": 2,
    "UNKNOWN_MODEL": 2,
    "INVALID_IMAGE": 2,
    "MODEL_NOT_AVAILABLE": 3,
    "GPU_OUT_OF_MEMORY": 4,
    "INTERNAL_ERROR": 1,
}


class JobError(Exception):
    """A failure the chat user is told about; `message` is one readable sentence."""

    def __init__(self, code: str, message: str, *, retryable: bool = False):
        if code not in EXIT_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.code]

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}
