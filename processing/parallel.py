"""Several GPUs in one job: the launcher that starts one worker process per GPU, and the
classifier-free-guidance split that the workers run (docs/performance.md, Several GPUs).

Plan `cfg` (2 workers): the transformer's CFG batch is [unconditional, conditional]; worker r
computes row r of every step and one all_gather per step hands both rows to every worker, so each
runs the same scheduler step and the latents stay identical. Worker 0 alone decodes, encodes and
writes the contract files; the others write only into a private folder the launcher reads.

The launcher (`launch`) runs in `python -m processing run`: it counts the GPUs, and when more than
one can be used starts `python -m processing.parallel ...` once per worker (torchrun's environment:
RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; one GPU each through CUDA_VISIBLE_DEVICES), waits, and
turns any worker's failure into one error.json and a non-zero exit, ending the other workers.

Sequence parallel (Ulysses / ring attention) for more than 2 GPUs needs an engine with a
CogVideoX plan that works with our attention processor; none fits yet (docs/performance.md says
what is missing), so beyond 2 GPUs the job uses 2 and records the rest as unused.
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("processing.parallel")

PLANS = ("cfg",)
CFG_WORKERS = 2  # one worker per half of the CFG batch
# Families whose pipeline calls the transformer once per step on the batch [unconditional, conditional]
# (the cfg split's precondition). diffusers' Wan pipelines call it twice, one half each: not split (yet).
CFG_BATCHED_FAMILIES = ("cogvideox",)
RANK_ENV, WORLD_ENV, PRIVATE_ENV, PLAN_ENV = "RANK", "WORLD_SIZE", "VIDEOBOT_WORKER_DIR", "VIDEOBOT_PARALLEL_PLAN"
VISIBLE_ENV = "VIDEOBOT_GPUS_VISIBLE"
STOP_GRACE_S = 10.0
POLL_S = 0.1


# --- planning: how many workers a job gets ---------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """How a job spreads over its workers: `world_size` processes running `plan`, of `visible` devices."""
    world_size: int
    plan: str | None
    visible: int
    reason: str


def choose_plan(requested: str, visible: int, guidance: float, device: str, family: str = "cogvideox") -> Plan:
    """`requested` is --gpus: "auto" uses every GPU that helps; a number asks for that many workers
    (on CPU too, where they talk over gloo: the tests). Only CFG parallel exists, so a job uses at
    most 2 workers, and 1 when it has no guidance (guidance 1 means a batch of one) or its family's
    pipeline does not batch the guidance halves."""
    if requested == "auto":
        wanted = 1 if device == "cpu" else visible
    else:
        wanted = int(requested)
        if wanted < 1:
            raise ValueError(f"--gpus must be auto or a whole number of at least 1; got {requested}")
    note = ""
    if device != "cpu" and wanted > visible:
        note, wanted = f"; {wanted} GPUs asked for, {visible} visible", visible
    if wanted <= 1:
        return Plan(1, None, visible, "one device" + note)
    if guidance <= 1:
        return Plan(1, None, visible, "no classifier-free guidance (guidance 1): one batch row per step" + note)
    if family not in CFG_BATCHED_FAMILIES:
        return Plan(1, None, visible, f"the {family} pipeline calls its transformer once per guidance half; "
                                      "the cfg split needs one call on both" + note)
    reason = "classifier-free guidance: one half of the batch per worker" + note
    if wanted > CFG_WORKERS:
        reason += f"; {wanted - CFG_WORKERS} more unused (sequence parallel is not available yet)"
    return Plan(min(wanted, CFG_WORKERS), "cfg", visible, reason)


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def worker_devices(world_size: int, parent_visible: str | None) -> list[str]:
    """CUDA_VISIBLE_DEVICES for each worker: one device each, picked from the launcher's own list."""
    ids = [d.strip() for d in parent_visible.split(",") if d.strip()] if parent_visible else []
    ids = ids or [str(i) for i in range(world_size)]
    return ids[:world_size]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the worker's side ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    rank: int
    world_size: int
    plan: str
    backend: str

    @property
    def writes_outputs(self) -> bool:
        return self.rank == 0


_GROUP: Group | None = None


def current() -> Group | None:
    """The worker group this process belongs to; None in a single-process job."""
    return _GROUP


def writes_outputs() -> bool:
    return _GROUP is None or _GROUP.writes_outputs


def join(device: str) -> Group:
    """Joins the launcher's process group (NCCL on GPUs, gloo on CPU) from torchrun's variables."""
    global _GROUP
    import torch.distributed as dist

    backend = "nccl" if device != "cpu" else "gloo"
    rank, world = int(os.environ[RANK_ENV]), int(os.environ[WORLD_ENV])
    if backend == "nccl":
        import torch

        torch.cuda.set_device(0)  # CUDA_VISIBLE_DEVICES leaves this worker one GPU
        dist.init_process_group(backend, rank=rank, world_size=world, device_id=torch.device("cuda", 0))
    else:
        dist.init_process_group(backend, rank=rank, world_size=world)
    _GROUP = Group(rank=rank, world_size=world, plan=os.environ.get(PLAN_ENV, "cfg"), backend=backend)
    return _GROUP


def leave() -> None:
    global _GROUP
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _GROUP = None


def rows_per_worker(batch: int) -> int:
    """The transformer batch one worker computes (the compiled block's shape)."""
    group = current()
    if group is None or group.plan != "cfg" or batch % group.world_size:
        return batch
    return batch // group.world_size


class CfgSplit:
    """Forward hooks on the transformer: before, keep this worker's row of the batch; after, gather
    every worker's rows back into the whole batch, in rank order."""

    BATCHED = ("hidden_states", "encoder_hidden_states", "timestep")

    def __init__(self, group: Group):
        self.group = group
        self.calls = 0
        self.rows: int | None = None  # batch rows this worker computed per call

    def before(self, _module, args, kwargs):
        if args:
            raise TypeError("the CFG split needs the transformer called with keyword arguments")
        batch = kwargs["hidden_states"].shape[0]
        if batch != self.group.world_size:
            raise RuntimeError(f"CFG parallel over {self.group.world_size} workers needs a batch of "
                               f"{self.group.world_size}; the transformer got {batch}")
        r = self.group.rank
        for name in self.BATCHED:
            value = kwargs.get(name)
            if hasattr(value, "shape") and value.ndim > 0 and value.shape[0] == batch:
                kwargs[name] = value[r:r + 1]
        self.rows = kwargs["hidden_states"].shape[0]
        return args, kwargs

    def after(self, _module, _args, _kwargs, output):
        import torch
        import torch.distributed as dist

        sample = output[0] if isinstance(output, tuple) else output.sample
        parts = [sample.new_empty(sample.shape) for _ in range(self.group.world_size)]
        dist.all_gather(parts, sample.contiguous())
        whole = torch.cat(parts, dim=0)
        self.calls += 1
        if isinstance(output, tuple):
            return (whole, *output[1:])
        output.sample = whole
        return output


def attach(pipe) -> CfgSplit | None:
    """Splits `pipe.transformer`'s calls across the group (first pre-hook, last hook, so the step
    cache and the compile-cache hooks see this worker's own rows); None in a single-process job."""
    group = current()
    if group is None:
        return None
    split = CfgSplit(group)
    pipe.transformer.register_forward_pre_hook(split.before, with_kwargs=True, prepend=True)
    pipe.transformer.register_forward_hook(split.after, with_kwargs=True)
    global _SPLIT
    _SPLIT = split
    return split


def gather_objects(value) -> list:
    """`value` from every worker, in rank order (one collective: every worker must call it)."""
    import torch.distributed as dist

    group = current()
    if group is None:
        return [value]
    values = [None] * group.world_size
    dist.all_gather_object(values, value)
    return values


def per_worker(shape):
    """optimize.WarmShape of the call one worker makes (the compiled block and its cache file)."""
    from dataclasses import replace

    return replace(shape, batch=rows_per_worker(shape.batch))


_SPLIT: CfgSplit | None = None
_STATS: list[dict] | None = None


def share_peak(peak) -> None:
    """Every worker's peak GPU memory and share of the transformer calls to every worker (a
    collective: all call it after generating); nothing in a single-process job."""
    global _STATS
    if current() is None:
        return
    mine = {"peak": peak, "calls": _SPLIT.calls if _SPLIT else 0, "rows": _SPLIT.rows if _SPLIT else None}
    _STATS = gather_objects(mine)


def describe() -> dict | None:
    """metadata.json's `parallel`; None for a single-process job."""
    group = current()
    if group is None:
        return None
    stats = _STATS or []
    return {"world_size": group.world_size, "plan": group.plan, "backend": group.backend,
            "gpus_visible": int(os.environ.get(VISIBLE_ENV, group.world_size)),
            "peak_gpu_memory_bytes_per_worker": [s["peak"] for s in stats],
            "transformer_calls_per_worker": [s["calls"] for s in stats],
            "batch_rows_per_call": [s["rows"] for s in stats]}


def worker_main(argv: list[str] | None = None) -> int:
    """One worker: `python -m processing.parallel run ...` (the launcher's command line)."""
    from processing import cli, job

    args = cli.parse_args(argv)
    rank = int(os.environ[RANK_ENV])
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), force=True,
                        format=f"%(asctime)s %(levelname)s %(name)s[worker {rank}]: %(message)s")
    private = Path(os.environ[PRIVATE_ENV])
    # Worker 0 writes the contract files; the others write (progress, a failure) only where the launcher looks.
    output_dir = args.output_dir if rank == 0 else private
    settings = cli.settings_from(args, args.input_dir, output_dir)
    try:
        join("cpu" if args.device == "cpu" else "cuda")
    except Exception as exc:  # the launcher reports it: the other worker cannot go on alone
        log.exception("could not join the other workers")
        _write_private_error(private, "INTERNAL_ERROR", f"A GPU worker could not start ({type(exc).__name__}).")
        return 1
    try:
        return job.run_job(settings, None, private / "no-sagemaker-output")
    finally:
        try:
            leave()
        except Exception:  # a peer that died leaves nothing to say goodbye to
            log.debug("process group teardown failed", exc_info=True)


def _write_private_error(private: Path, code: str, message: str) -> None:
    private.mkdir(parents=True, exist_ok=True)
    (private / "error.json").write_text(json.dumps({"code": code, "message": message, "retryable": True}))


# --- the launcher's side ----------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the worker, before exec: SIGKILL when the launcher dies (Linux), so no worker outlives it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Worker:
    rank: int
    proc: subprocess.Popen
    private: Path
    exit_code: int | None = None
    ended_at: float | None = None


def start_workers(argv: list[str], plan: Plan, device: str, base: Path) -> list[Worker]:
    port = free_port()
    devices = worker_devices(plan.world_size, os.environ.get("CUDA_VISIBLE_DEVICES")) if device != "cpu" else []
    workers = []
    for rank in range(plan.world_size):
        private = base / f"worker-{rank}"
        private.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(plan.world_size),
                   LOCAL_WORLD_SIZE=str(plan.world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   **{PRIVATE_ENV: str(private), PLAN_ENV: plan.plan or "cfg", VISIBLE_ENV: str(plan.visible)})
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = devices[rank]
        proc = subprocess.Popen([sys.executable, "-m", "processing.parallel", *argv], env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        workers.append(Worker(rank, proc, private))
    log.info("started %d workers (plan %s; %s): pids %s", plan.world_size, plan.plan, plan.reason,
             [w.proc.pid for w in workers])
    return workers


def stop_workers(workers: list[Worker], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to every worker still running, SIGKILL after `grace_s`; returns once all are gone."""
    for w in workers:
        if w.proc.poll() is None:
            w.proc.terminate()
    deadline = time.monotonic() + grace_s
    for w in workers:
        try:
            w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()


def wait_workers(workers: list[Worker]) -> Worker | None:
    """Waits until every worker has exited 0 (returns None) or one has failed (returns it first,
    after ending the others: they would wait for it in a collective forever)."""
    while True:
        running = 0
        for w in workers:
            code = w.proc.poll()
            if code is None:
                running += 1
                continue
            if w.exit_code is None:
                w.exit_code, w.ended_at = code, time.monotonic()
                if code != 0:
                    log.error("worker %d exited with %s; ending the others", w.rank,
                              f"signal {-code}" if code < 0 else f"code {code}")
                    stop_workers(workers)
                    for other in workers:
                        if other.exit_code is None:
                            other.exit_code, other.ended_at = other.proc.returncode, time.monotonic()
                    return w
        if running == 0:
            return None
        time.sleep(POLL_S)


def read_error(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and "code" in value and "message" in value else None


def choose_error(first: Worker, workers: list[Worker], output_dir: Path) -> dict | None:
    """The one failure the user reads: any worker's specific error (not INTERNAL_ERROR), the first
    failed worker's first; else the first failed worker's own error; else None, when it wrote none
    (killed): the launcher then says a worker stopped. Worker 0's error is in the output dir, the
    others' in their private folders."""
    def error_of(w: Worker) -> dict | None:
        return read_error(output_dir / "error.json" if w.rank == 0 else w.private / "error.json")

    ordered = [first] + sorted((w for w in workers if w is not first), key=lambda w: w.ended_at or float("inf"))
    errors = [error_of(w) for w in ordered]
    specific = [e for e in errors if e is not None and e["code"] != "INTERNAL_ERROR"]
    return specific[0] if specific else errors[0]


def launch(args, sagemaker_output: Path) -> int | None:
    """From `python -m processing run`: starts the workers and returns the job's exit code, or None
    when the job runs in this process (one device, no guidance, a worker already, serve)."""
    if os.environ.get(RANK_ENV) is not None and os.environ.get(PRIVATE_ENV):
        return None  # a worker: run the job here
    requested = str(getattr(args, "gpus", "auto"))
    if requested == "auto" and args.device == "cpu":
        return None
    what = job_guidance_and_family(args.input_dir)
    if what is None:
        return None  # an unreadable or invalid job: the single-process path reports it
    visible = visible_gpus() if args.device != "cpu" else 0
    plan = choose_plan(requested, visible, what[0], "cpu" if args.device == "cpu" or visible == 0 else "cuda", what[1])
    if plan.world_size <= 1:
        if visible > 1:
            log.info("one process for this job: %s", plan.reason)
        return None
    argv = worker_argv(args)
    base = Path(tempfile.mkdtemp(prefix="videobot-workers-"))
    workers = start_workers(argv, plan, args.device, base)

    def on_term(signum, _frame):
        stop_workers(workers)
        raise SystemExit(128 + signum)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_term) if in_main_thread else None
    try:
        failed = wait_workers(workers)
        return 0 if failed is None else report_worker_failure(failed, workers, args.output_dir, sagemaker_output)
    except BaseException:
        stop_workers(workers)
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(base, ignore_errors=True)


def report_worker_failure(failed: Worker, workers: list[Worker], output_dir: Path, sagemaker_output: Path) -> int:
    """One error.json (and SageMaker message) for the whole job; returns its exit code."""
    from processing.contract import clear_outputs, report_failure
    from processing.errors import EXIT_CODES, JobError

    chosen = choose_error(failed, workers, output_dir)
    if chosen is None or chosen["code"] not in EXIT_CODES:
        error = JobError("INTERNAL_ERROR", "A GPU worker of this job stopped unexpectedly; please try again later.",
                         retryable=True)
    else:
        error = JobError(chosen["code"], chosen["message"], retryable=bool(chosen.get("retryable", False)))
    log.error("job failed: %s %s", error.code, error.message)
    clear_outputs(output_dir)
    report_failure(error, output_dir, sagemaker_output)
    return error.exit_code


def job_guidance_and_family(input_dir: Path) -> tuple[float, str] | None:
    """The job's guidance scale and its preset's family (validated as the job will be), or None when
    job.json is not valid."""
    from processing import presets
    from processing.contract import read_job_file
    from processing.errors import JobError
    from processing.validation import validate_job

    try:
        validated, preset = validate_job(read_job_file(input_dir), input_dir, presets.load_presets())
    except (OSError, ValueError, JobError):
        return None
    return validated.guidance, preset.family


def worker_argv(args) -> list[str]:
    """The workers' command line: the launcher's own job flags (the parsed values, not sys.argv)."""
    argv = ["run", "--input-dir", str(args.input_dir), "--output-dir", str(args.output_dir),
            "--models-dir", str(args.models_dir), "--device", args.device, "--memory-plan", args.memory_plan,
            "--speed", args.speed, "--log-level", args.log_level]
    if args.allow_download:
        argv.append("--allow-download")
    if args.image_fit:
        argv += ["--image-fit", args.image_fit]
    return argv


if __name__ == "__main__":
    # Through the package's module, not this __main__ copy: job.py asks processing.parallel for the group.
    from processing import exit_now
    from processing.parallel import worker_main as _worker_main

    exit_now(_worker_main())
