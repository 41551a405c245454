"""The resident worker, `python -m processing serve`: keeps the last-used pipeline loaded and runs the jobs named on stdin, one at a time.

Each job goes through the same files as `python -m processing run` (job.json in; progress.json,
video.mp4, poster.jpg, metadata.json or error.json out). The transport is newline-delimited JSON:

  stdin   {"id": "j1", "input": "/in/dir", "output": "/out/dir"}   run a job (queued behind the current one)
          {"cancel": "j1"}                                          stop that job at its next phase or step
          end of file                                               the owner is gone: stop and exit
                                                                    (and on Linux the kernel kills the worker when its parent dies)
  stdout  {"ready": true, "pid": 123}                               once, when the worker reads requests
          {"id": "j1", "output": "...", "status": "completed"|"failed"|"cancelled"|"rejected",
           "exit_code": 0, "resident": true}                         once per job, when its files are final

Everything else (logs, any library's prints) goes to stderr. A failed job leaves the worker
running; a job after which the GPU no longer works makes the worker exit with EXIT_GPU_UNUSABLE,
with error.json saying the job may be tried again.
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable

import processing
from processing import job as job_module
from processing.errors import EXIT_CODES, JobError
from processing.progress import Observer, write_json_atomic

log = logging.getLogger("processing.serve")

EXIT_GPU_UNUSABLE = 70
# Once the owner is gone, how long the current job gets to reach its next phase or step (where it
# stops cleanly) before the worker exits anyway: compiling or loading can run for a minute.
STOP_GRACE_S = 5.0
PARENT_CHECK_S = 1.0
GIB = 1024**3


class GpuUnusable(Exception):
    """The GPU failed a health check after a job: this process cannot run another one."""


class ResidentPipelines:
    """The one pipeline a worker keeps, with the key it was built for: (preset, mode, weights,
    device, dtype, memory plan, speed). A job with another key unloads it and builds its own."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.pipe = None
        self.last_resident = False

    def get(self, key: tuple, build: Callable[[], object]) -> tuple[object, bool]:
        if self.pipe is not None and self.key == key:
            self.last_resident = True
            return self.pipe, True
        if self.pipe is not None:
            log.info("switching pipeline: unloading %s for %s", self.key[:2], key[:2])
        self.release()
        self.last_resident = False
        self.pipe = build()
        self.key = key
        return self.pipe, False

    def held_gib(self) -> float:
        """GPU memory this process holds (the resident pipeline and torch's cache), all of which a
        job that needs another pipeline or memory plan gets back."""
        torch = sys.modules.get("torch")
        if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return 0.0
        return torch.cuda.memory_reserved() / GIB

    def release(self) -> None:
        if self.pipe is None and self.key is None:
            return
        self.pipe = None
        self.key = None
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is None:
            return
        try:
            torch._dynamo.reset()  # compiled graphs of the old transformer hold on to it
        except Exception:  # noqa: BLE001 - a missing or changed private API only costs memory
            log.debug("torch._dynamo.reset failed", exc_info=True)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()


def gpu_usable() -> bool:
    """After a failed job: can this process still use the GPU? (A CUDA error such as an illegal
    memory access poisons the context for good; an ordinary out-of-memory does not.)"""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return True
    try:
        torch.cuda.synchronize()
        value = (torch.ones(1, device="cuda") + 1).item()
        torch.cuda.synchronize()
        return value == 2.0
    except Exception:  # noqa: BLE001 - any failure here means the context is gone
        log.exception("GPU health check failed")
        return False


class Worker:
    """Runs one job at a time with a pipeline kept between jobs; cancellable between steps."""

    def __init__(self, settings: job_module.Settings, *, sagemaker_output: Path = job_module.SAGEMAKER_OUTPUT,
                 gpu_check: Callable[[], bool] = gpu_usable, observer: Observer | None = None) -> None:
        self.settings = settings
        self.sagemaker_output = sagemaker_output
        self.pipelines = ResidentPipelines()
        self._gpu_check = gpu_check
        self._observer = observer  # tests watch progress through it
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._cancelled: set[str] = set()
        self._current: str | None = None
        self.jobs_run = 0
        self.stopping = False

    # Called from the stdin reader thread.
    def accept(self, job_id: str) -> None:
        with self._lock:
            self._pending.add(job_id)

    def cancel(self, job_id: str) -> bool:
        """Marks a queued or running job cancelled; False for a job this worker does not have."""
        with self._lock:
            if job_id != self._current and job_id not in self._pending:
                return False
            self._cancelled.add(job_id)
            return True

    def stop(self) -> None:
        """The owner is gone: stop the current job at its next phase or step, run no other."""
        with self._lock:
            self.stopping = True
            if self._current is not None:
                self._cancelled.add(self._current)

    # Called from the main thread.
    def run(self, request: object) -> dict:
        problem = request_problem(request)
        if problem:
            log.error("rejected request %r: %s", request, problem)
            job_id = request.get("id") if isinstance(request, dict) else None
            return {"id": job_id, "status": "rejected", "error": problem}
        job_id = str(request.get("id") or request["output"])
        output_dir = Path(request["output"])
        settings = dataclasses.replace(self.settings, input_dir=Path(request["input"]), output_dir=output_dir)
        with self._lock:
            self._pending.discard(job_id)
            self._current = job_id
        if self.jobs_run > 0:
            # metadata's startup_s counts from here, not from the worker's start hours ago.
            processing.PROCESS_STARTED = time.monotonic()
        self.jobs_run += 1
        log.info("job %s: starting (input %s, output %s)", job_id, settings.input_dir, output_dir)
        self.pipelines.last_resident = False
        try:
            code = job_module.run_job(settings, self._watch(job_id), self.sagemaker_output, pipelines=self.pipelines)
            status = "completed" if code == 0 else "failed"
        except job_module.Cancelled:
            log.info("job %s: cancelled", job_id)
            code, status = None, "cancelled"
        finally:
            with self._lock:
                self._current = None
                self._cancelled.discard(job_id)
        if code == EXIT_CODES["GPU_OUT_OF_MEMORY"]:
            self.pipelines.release()  # the next job plans its memory from an empty GPU
        if status != "completed" and not self._gpu_check():
            self.pipelines.release()
            job_module.report_failure(
                JobError("INTERNAL_ERROR", "The GPU stopped working during this video, so its worker was restarted; "
                         "please try again.", retryable=True),
                output_dir, self.sagemaker_output)
            raise GpuUnusable(job_id)
        return {"id": job_id, "output": str(output_dir), "status": status, "exit_code": code,
                "resident": self.pipelines.last_resident}

    def _watch(self, job_id: str) -> Observer:
        def observe(payload: dict) -> None:
            if self._observer is not None:
                self._observer(payload)
            # `done` is written after every output file: too late to cancel anything.
            if payload.get("phase") != "done" and job_id in self._cancelled:
                raise job_module.Cancelled(job_id)
        return observe


def request_problem(request: object) -> str | None:
    if not isinstance(request, dict):
        return "a request must be a JSON object"
    for key in ("input", "output"):
        if not isinstance(request.get(key), str) or not request[key]:
            return f"'{key}' must be a directory path"
    if "id" in request and not isinstance(request["id"], str):
        return "'id' must be text"
    return None


def claim_stdout() -> IO[str]:
    """The protocol gets the real stdout; fd 1 then points at stderr, so a library that prints
    cannot corrupt the stream the bot parses."""
    sys.stdout.flush()
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return protocol


def read_requests(stream: IO[str], worker: Worker, jobs: "queue.Queue[object]") -> None:
    """stdin reader thread: jobs go to the queue; cancels act at once; end of file stops the worker."""
    for line in stream:
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            log.error("ignored a line that is not JSON: %.200s", line)
            continue
        if isinstance(message, dict) and "cancel" in message:
            found = worker.cancel(str(message["cancel"]))
            log.info("cancel %s: %s", message["cancel"], "will stop at the next step" if found else "not here")
            continue
        if isinstance(message, dict) and isinstance(message.get("id"), str):
            worker.accept(message["id"])
        jobs.put(message)
    owner_gone(worker, jobs, "stdin closed")


def owner_gone(worker: Worker, jobs: "queue.Queue[object]", why: str) -> None:
    log.info("%s: stopping", why)
    worker.stop()
    jobs.put(None)
    timer = threading.Timer(STOP_GRACE_S, os._exit, (0,))
    timer.daemon = True
    timer.start()


def die_with_parent() -> None:
    """Linux: the kernel kills this worker the moment its parent dies (a SIGKILLed bot included),
    even in the middle of an import or a long step, where the checks below wait for the GIL."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        pr_set_pdeathsig = 1
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("could not ask to be killed with the parent (errno %d)", ctypes.get_errno())
    except (OSError, AttributeError):
        log.warning("could not ask to be killed with the parent", exc_info=True)


def watch_parent(parent: int, worker: Worker, jobs: "queue.Queue[object]") -> None:
    """Belt and braces for stdin EOF: a worker whose parent died is re-parented."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    owner_gone(worker, jobs, f"parent {parent} is gone")


def command_serve(args: argparse.Namespace, *, stdin: IO[str] | None = None) -> int:
    die_with_parent()
    parent = os.getppid()
    protocol = claim_stdout()
    send_lock = threading.Lock()

    def send(message: dict) -> None:
        with send_lock:
            try:
                protocol.write(json.dumps(message) + "\n")
                protocol.flush()
            except (BrokenPipeError, ValueError):
                log.info("could not report %s: nobody is reading", message.get("id"))

    settings = job_module.Settings(input_dir=Path("."), output_dir=Path("."), models_dir=args.models_dir,
                                   allow_download=args.allow_download, device=args.device,
                                   memory_plan=args.memory_plan, image_fit=args.image_fit, speed=args.speed)
    worker = Worker(settings)
    jobs: queue.Queue[object] = queue.Queue()
    threading.Thread(target=read_requests, args=(stdin or sys.stdin, worker, jobs),
                     name="stdin", daemon=True).start()
    threading.Thread(target=watch_parent, args=(parent, worker, jobs), name="parent", daemon=True).start()
    log.info("resident worker %d ready (device %s, speed %s)", os.getpid(), args.device, args.speed)
    send({"ready": True, "pid": os.getpid()})
    while True:
        request = jobs.get()
        if request is None or worker.stopping:
            log.info("resident worker %d exiting after %d jobs", os.getpid(), worker.jobs_run)
            return 0
        try:
            result = worker.run(request)
        except GpuUnusable as exc:
            log.error("job %s left the GPU unusable; exiting so a fresh worker takes the next job", exc)
            return EXIT_GPU_UNUSABLE
        send(result)
