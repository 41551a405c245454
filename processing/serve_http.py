"""The resident worker behind a SageMaker Asynchronous Inference endpoint: `python -m processing serve-http`.

SageMaker starts the image as `docker run <image> serve`; with VIDEOBOT_SERVE_TRANSPORT=http in the
container's environment (the CDK model sets it) `serve` means this module. It answers the HTTP
contract SageMaker requires on port 8080:

  GET  /ping          200 while the worker can take a job; 500 once a job left the GPU unusable
                      (SageMaker then replaces the instance). Answered from its own thread, at once,
                      even while a video is being made (SageMaker waits at most 2 s).
  POST /invocations   body (the object `InvokeEndpointAsync`'s InputLocation names):
                      {"job_id": "j1", "attempt": 1, "input": "s3://b/jobs/j1/input/", "output": "s3://b/jobs/j1/output/"}

An invocation copies the input prefix (job.json and the image) to a local folder, runs it through
the same `serve.Worker` as the NDJSON worker (pipeline kept between jobs, cancel between steps),
puts progress.json into the output prefix while it runs (at each phase, and at most every
`--progress-interval` seconds during denoising), then video.mp4, poster.jpg and metadata.json (last)
or error.json. Cancel: an object `<output>cancel`, checked before the job starts and between steps.

The answer is 200 with {"job_id", "attempt", "status": "completed"|"failed"|"cancelled"|"done-before"}
for every job that left its result in S3 (SageMaker stores it and sends the success notification);
500 when the worker could not finish the job's files (S3 unreachable, GPU unusable): SageMaker
sends the error notification and the bot reads whatever the prefix holds. One invocation runs at a
time (the endpoint sets MaxConcurrentInvocationsPerInstance to 1; a second one waits its turn).

S3 calls go through boto3, which honours AWS_ENDPOINT_URL (the tests point it at moto).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # the worker imports the job's modules; the CLI parses flags without them
    from processing.serve import Worker


log = logging.getLogger("processing.serve_http")

PORT = 8080
ENDPOINT_MODELS_DIR = Path("/opt/ml/model")  # where SageMaker puts the model's ModelDataSource
CANCEL_MARKER = "cancel"
PROGRESS_INTERVAL_S = 2.0
CANCEL_POLL_S = 2.0
# Written last: a reader that sees metadata.json or error.json sees every other output of the job.
RESULT_ORDER = ("video.mp4", "poster.jpg", "metadata.json", "error.json")
CONTENT_TYPES = {".json": "application/json", ".mp4": "video/mp4", ".jpg": "image/jpeg"}
MAX_REQUEST_BYTES = 64 * 1024


class BadRequest(ValueError):
    """The invocation's body is not a job request; the answer says why."""


@dataclass(frozen=True)
class S3Prefix:
    bucket: str
    key: str  # ends with "/"

    @staticmethod
    def parse(uri: object, field: str) -> "S3Prefix":
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise BadRequest(f"'{field}' must be an s3:// prefix")
        bucket, _, key = uri[len("s3://"):].partition("/")
        if not bucket or not key:
            raise BadRequest(f"'{field}' must name a bucket and a prefix")
        return S3Prefix(bucket, key if key.endswith("/") else key + "/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Invocation:
    job_id: str
    attempt: int
    input: S3Prefix
    output: S3Prefix

    @staticmethod
    def parse(body: bytes) -> "Invocation":
        try:
            raw = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadRequest("the request must be a JSON object") from None
        if not isinstance(raw, dict):
            raise BadRequest("the request must be a JSON object")
        job_id = raw.get("job_id")
        if not isinstance(job_id, str) or not job_id or "/" in job_id:
            raise BadRequest("'job_id' must be a job id")
        attempt = raw.get("attempt", 1)
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise BadRequest("'attempt' must be a positive whole number")
        return Invocation(job_id, attempt, S3Prefix.parse(raw.get("input"), "input"),
                          S3Prefix.parse(raw.get("output"), "output"))


class S3Folder:
    """A job's S3 prefix seen as a folder of plain files."""

    def __init__(self, s3, prefix: S3Prefix, *, kms_key_id: str | None = None) -> None:
        self.s3 = s3
        self.prefix = prefix
        self.kms_key_id = kms_key_id

    def download_to(self, folder: Path) -> int:
        count = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.prefix.bucket, Prefix=self.prefix.key):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix.key):]
                if not name or "/" in name:
                    continue  # only the job's own files; nothing below them
                self.s3.download_file(self.prefix.bucket, item["Key"], str(folder / name))
                count += 1
        return count

    def upload(self, path: Path) -> None:
        extra = {"ContentType": CONTENT_TYPES.get(path.suffix, "application/octet-stream")}
        if self.kms_key_id:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id)
        self.s3.upload_file(str(path), self.prefix.bucket, self.prefix.key + path.name, ExtraArgs=extra)

    def exists(self, name: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.prefix.bucket, Key=self.prefix.key + name)
            return True
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError; 404 means absent
            if _status(exc) == 404:
                return False
            raise


def _status(exc: Exception) -> int | None:
    return getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")


class ProgressUploader:
    """Puts the job's progress.json into S3 at every phase change, and during denoising at most
    every `interval_s` (a step of a small job takes milliseconds; S3 bills each PUT)."""

    def __init__(self, folder: S3Folder, local: Path, interval_s: float, clock: Callable[[], float]) -> None:
        self.folder = folder
        self.path = local / "progress.json"
        self.interval_s = interval_s
        self.clock = clock
        self.last_phase: str | None = None
        self.last_at = float("-inf")
        self.uploads = 0

    def __call__(self, payload: dict) -> None:
        now = self.clock()
        if payload.get("phase") == self.last_phase and now - self.last_at < self.interval_s:
            return
        self.last_phase, self.last_at = payload.get("phase"), now
        try:
            self.folder.upload(self.path)
            self.uploads += 1
        except Exception:  # noqa: BLE001 - progress is best effort; the result files are not
            log.warning("could not upload progress.json", exc_info=True)


class CancelWatch:
    """Looks for `<output>cancel` every `poll_s` while a job runs and cancels it in the worker."""

    def __init__(self, folder: S3Folder, worker: Worker, job_id: str, poll_s: float) -> None:
        self.folder, self.worker, self.job_id, self.poll_s = folder, worker, job_id, poll_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"cancel-{job_id}", daemon=True)

    def __enter__(self) -> "CancelWatch":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=self.poll_s + 5)

    def _run(self) -> None:
        while not self.stopped.wait(self.poll_s):
            try:
                if self.folder.exists(CANCEL_MARKER):
                    log.info("job %s: cancel marker found", self.job_id)
                    self.worker.cancel(self.job_id)
                    return
            except Exception:  # noqa: BLE001 - S3 hiccup: look again next time
                log.warning("job %s: could not look for the cancel marker", self.job_id, exc_info=True)


class InvocationHandler:
    """Turns one invocation into one job of the resident worker; one at a time."""

    def __init__(self, worker: Worker, s3, *, workdir: Path, progress_interval_s: float = PROGRESS_INTERVAL_S,
                 cancel_poll_s: float = CANCEL_POLL_S, kms_key_id: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.worker = worker
        self.s3 = s3
        self.workdir = workdir
        self.progress_interval_s = progress_interval_s
        self.cancel_poll_s = cancel_poll_s
        self.kms_key_id = kms_key_id
        self.clock = clock
        self.healthy = True
        self._one_at_a_time = threading.Lock()
        self._progress: ProgressUploader | None = None

    def on_progress(self, payload: dict) -> None:
        """The worker's observer: called at every phase and step of the current job."""
        if self._progress is not None:
            self._progress(payload)

    def invoke(self, body: bytes) -> tuple[int, dict]:
        try:
            invocation = Invocation.parse(body)
        except BadRequest as exc:
            log.error("rejected an invocation: %s", exc)
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        with self._one_at_a_time:
            if not self.healthy:
                return HTTPStatus.INTERNAL_SERVER_ERROR, {"job_id": invocation.job_id, "error": "the GPU is unusable"}
            try:
                return self._run(invocation)
            except Exception as exc:  # noqa: BLE001 - S3 failed us: the error notification tells the bot
                log.exception("job %s: could not be run through S3", invocation.job_id)
                return HTTPStatus.INTERNAL_SERVER_ERROR, {"job_id": invocation.job_id, "error": type(exc).__name__}

    def _run(self, invocation: Invocation) -> tuple[int, dict]:
        from processing.serve import GpuUnusable

        job_id = invocation.job_id
        output = S3Folder(self.s3, invocation.output, kms_key_id=self.kms_key_id)
        answer = {"job_id": job_id, "attempt": invocation.attempt, "output": str(invocation.output)}
        if output.exists("metadata.json") or output.exists("error.json"):
            # A repeated invocation of a finished attempt (the bot restarted between invoking and recording it).
            log.info("job %s: already finished; not running it again", job_id)
            return HTTPStatus.OK, {**answer, "status": "done-before"}
        if output.exists(CANCEL_MARKER):
            log.info("job %s: cancelled while queued", job_id)
            return HTTPStatus.OK, {**answer, "status": "cancelled"}
        folder = Path(tempfile.mkdtemp(prefix=f"job-{job_id[:40]}-", dir=self.workdir))
        try:
            local_in, local_out = folder / "input", folder / "output"
            local_in.mkdir()
            local_out.mkdir()
            files = S3Folder(self.s3, invocation.input).download_to(local_in)
            log.info("job %s: %d input files from %s", job_id, files, invocation.input)
            self._progress = ProgressUploader(output, local_out, self.progress_interval_s, self.clock)
            self.worker.accept(job_id)
            try:
                with CancelWatch(output, self.worker, job_id, self.cancel_poll_s):
                    result = self.worker.run({"id": job_id, "input": str(local_in), "output": str(local_out)})
            except GpuUnusable:
                self.healthy = False  # /ping turns 500; SageMaker replaces the instance
                self._upload_results(output, local_out)
                log.error("job %s left the GPU unusable; /ping now fails", job_id)
                return HTTPStatus.INTERNAL_SERVER_ERROR, {**answer, "status": "failed", "error": "the GPU is unusable"}
            finally:
                self._progress = None
            self._upload_results(output, local_out)
            return HTTPStatus.OK, {**answer, "status": result["status"], "resident": result.get("resident", False)}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _upload_results(output: S3Folder, local_out: Path) -> None:
        for name in RESULT_ORDER:
            if (local_out / name).is_file():
                output.upload(local_out / name)
        if (local_out / "progress.json").is_file():
            output.upload(local_out / "progress.json")  # its final phase ("done"), unthrottled


def make_server(handler: InvocationHandler, host: str, port: int) -> ThreadingHTTPServer:
    class Http(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path != "/ping":
                return self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})
            self._send(HTTPStatus.OK if handler.healthy else HTTPStatus.INTERNAL_SERVER_ERROR,
                       {"healthy": handler.healthy})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/invocations":
                return self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                return self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "the request is too large"})
            status, body = handler.invoke(self.rfile.read(length))
            self._send(status, body)

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args) -> None:
            if self.path != "/ping":  # SageMaker pings every few seconds
                log.info("%s %s", self.address_string(), fmt % args)

    server = ThreadingHTTPServer((host, port), Http)
    server.daemon_threads = True
    return server


def models_dir_for(models_dir: Path, model_data_preset: str | None, workdir: Path) -> Path:
    """SageMaker copies a model's ModelDataSource (one preset's staged weights, `<cache>/<preset>/`) into
    /opt/ml/model. The job looks for weights in `<models dir>/<preset>/`, so that layout is made with a link."""
    if not model_data_preset:
        return models_dir
    layout = workdir / "models"
    layout.mkdir(parents=True, exist_ok=True)
    link = layout / model_data_preset
    if not link.exists():
        link.symlink_to(models_dir, target_is_directory=True)
    return layout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """serve-http's own flags, beside the ones every resident worker takes (processing/cli.py)."""
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - SageMaker connects from outside the container
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "videobot-serve")
    parser.add_argument("--model-data-preset", default=os.environ.get("VIDEOBOT_MODEL_DATA_PRESET") or None,
                        help="the preset whose weights SageMaker put in --models-dir (default: "
                             "$VIDEOBOT_MODEL_DATA_PRESET); without it --models-dir holds <preset>/ folders")
    parser.add_argument("--progress-interval", type=float, default=PROGRESS_INTERVAL_S,
                        help="seconds between progress.json uploads within one phase")
    parser.add_argument("--cancel-poll", type=float, default=CANCEL_POLL_S,
                        help="seconds between looks for the cancel marker")
    parser.add_argument("--kms-key-id", default=os.environ.get("VIDEOBOT_KMS_KEY_ID") or None,
                        help="SSE-KMS key for the outputs (default: $VIDEOBOT_KMS_KEY_ID; else the bucket's default)")
    parser.set_defaults(models_dir=ENDPOINT_MODELS_DIR)


def build_handler(args: argparse.Namespace, s3) -> InvocationHandler:
    """The worker and its HTTP-side handler from parsed flags (tests pass their own S3 client)."""
    from processing.cli import settings_from
    from processing.serve import Worker

    args.workdir.mkdir(parents=True, exist_ok=True)
    models_dir = models_dir_for(args.models_dir, args.model_data_preset, args.workdir)
    args.models_dir = models_dir
    handler: InvocationHandler | None = None
    worker = Worker(settings_from(args, Path("."), Path(".")), observer=lambda payload: handler.on_progress(payload))
    handler = InvocationHandler(worker, s3, workdir=args.workdir, progress_interval_s=args.progress_interval,
                                cancel_poll_s=args.cancel_poll, kms_key_id=args.kms_key_id)
    return handler


def command_serve_http(args: argparse.Namespace) -> int:
    import boto3

    handler = build_handler(args, boto3.client("s3"))
    server = make_server(handler, args.host, args.port)
    log.info("resident worker %d serving on %s:%d (device %s, speed %s, models %s)", os.getpid(), args.host,
             server.server_address[1], args.device, args.speed, args.models_dir)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
