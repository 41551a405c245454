"""The resident worker (`python -m processing serve`): jobs on a kept pipeline, failures, cancel, switching, exit."""
from __future__ import annotations

import gc
import io
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
from PIL import Image

from processing import job as job_module
from processing.serve import GpuUnusable, ResidentPipelines, Worker

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = {"model": "tiny-random", "prompt": "a red fox in the snow", "seed": 7, "frames": 9, "steps": 2}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_job(root: Path, name: str, files: dict[str, bytes] | None = None, **fields) -> dict:
    """Writes <root>/<name>/input/job.json and returns the worker request for it."""
    input_dir = root / name / "input"
    input_dir.mkdir(parents=True)
    (input_dir / "job.json").write_text(json.dumps({"id": name, **TINY, **fields}))
    for file_name, data in (files or {}).items():
        (input_dir / file_name).write_bytes(data)
    return {"id": name, "input": str(input_dir), "output": str(root / name / "output")}


def output(request: dict, name: str) -> Path:
    return Path(request["output"]) / name


def metadata(request: dict) -> dict:
    return json.loads(output(request, "metadata.json").read_text())


def make_worker(tmp_path: Path, **options) -> Worker:
    settings = job_module.Settings(input_dir=Path("."), output_dir=Path("."), models_dir=tmp_path / "models",
                                   allow_download=False, device="cpu", memory_plan="auto", image_fit=None)
    return Worker(settings, sagemaker_output=tmp_path / "no-sagemaker", **options)


@pytest.fixture
def worker(tmp_path):
    return make_worker(tmp_path)


# --- in-process: the worker's rules ------------------------------------------------------

def test_a_failed_job_leaves_the_worker_and_its_pipeline_for_the_next(worker, tmp_path):
    first = make_job(tmp_path, "a")
    bad_prompt = make_job(tmp_path, "b", prompt="   ")
    bad_image = make_job(tmp_path, "c", mode="i2v", image="start.png", files={"start.png": b"not a picture"})
    last = make_job(tmp_path, "d", seed=8)

    assert worker.run(first)["status"] == "completed"
    for bad, code in ((bad_prompt, "INVALID_JOB"), (bad_image, "INVALID_IMAGE")):
        result = worker.run(bad)
        assert (result["status"], result["exit_code"]) == ("failed", 2)
        assert json.loads(output(bad, "error.json").read_text())["code"] == code
    result = worker.run(last)

    assert result == {"id": "d", "output": last["output"], "status": "completed", "exit_code": 0, "resident": True}
    assert metadata(last)["runtime"]["resident"] is True
    assert metadata(last)["job"]["seed"] == 8


def test_a_job_that_leaves_the_gpu_unusable_stops_the_worker_and_may_be_retried(tmp_path):
    healthy = make_worker(tmp_path, gpu_check=lambda: True)
    broken = make_worker(tmp_path, gpu_check=lambda: False)
    good = make_job(tmp_path, "good")
    failing = make_job(tmp_path, "failing", prompt="")

    assert healthy.run(failing)["status"] == "failed"  # an ordinary failure: the worker carries on
    with pytest.raises(GpuUnusable):
        broken.run(failing)
    error = json.loads(output(failing, "error.json").read_text())
    assert error["code"] == "INTERNAL_ERROR" and error["retryable"] is True
    assert "GPU stopped working" in error["message"]
    assert broken.run(good)["status"] == "completed"  # a success is never health-checked


def test_cancel_stops_the_job_between_steps_and_the_next_job_reuses_the_pipeline(tmp_path):
    long = make_job(tmp_path, "long", steps=50)
    after = make_job(tmp_path, "after")
    steps: list[int] = []

    def cancel_at_step_two(payload: dict) -> None:  # as the stdin reader would, while step 2 is written
        if payload["phase"] == "denoising" and payload["total"] == 50:
            steps.append(payload["step"])
            if payload["step"] == 2:
                assert worker.cancel("long")
    worker = make_worker(tmp_path, observer=cancel_at_step_two)

    result = worker.run(long)

    assert result["status"] == "cancelled" and result["exit_code"] is None
    assert steps == [0, 1, 2]  # stopped at the step where the cancel came, not one later
    assert json.loads(output(long, "progress.json").read_text())["step"] == 2
    for name in ("video.mp4", "poster.jpg", "metadata.json", "error.json"):
        assert not output(long, name).exists(), name
    assert worker.cancel("long") is False  # finished: a late cancel finds nothing
    assert worker.run(after) == {"id": "after", "output": after["output"], "status": "completed", "exit_code": 0,
                                 "resident": True}


def test_a_job_cancelled_while_queued_never_starts(worker, tmp_path):
    queued = make_job(tmp_path, "queued")
    worker.accept("queued")
    assert worker.cancel("queued") is True
    assert worker.cancel("someone-else") is False

    assert worker.run(queued)["status"] == "cancelled"
    assert not output(queued, "video.mp4").exists()
    assert worker.pipelines.pipe is None  # nothing was loaded for it


def test_switching_pipelines_unloads_the_old_one(worker, tmp_path):
    t2v = make_job(tmp_path, "t2v")
    i2v = make_job(tmp_path, "i2v", mode="i2v", image="start.png", files={"start.png": png_bytes()})
    i2v_again = make_job(tmp_path, "i2v-again", mode="i2v", image="start.png", files={"start.png": png_bytes()})
    t2v_again = make_job(tmp_path, "t2v-again")

    worker.run(t2v)
    old = weakref.ref(worker.pipelines.pipe)
    worker.run(i2v)
    gc.collect()
    assert old() is None  # the t2v pipeline was let go before the i2v one was built
    worker.run(i2v_again)
    worker.run(t2v_again)

    resident = [metadata(r)["runtime"]["resident"] for r in (t2v, i2v, i2v_again, t2v_again)]
    assert resident == [False, False, True, False]
    assert type(worker.pipelines.pipe).__name__ == "CogVideoXPipeline"
    assert metadata(i2v_again)["runtime"]["load_s"] < metadata(i2v)["runtime"]["load_s"]


def test_a_different_memory_plan_or_speed_builds_again():
    pipelines = ResidentPipelines()
    builds: list[str] = []

    def build(name):
        return lambda: builds.append(name) or object()

    base = ("cogvideox-5b", "t2v", "/models/cogvideox-5b", "cuda", "bfloat16", "none", "lossless")
    assert pipelines.get(base, build("first"))[1] is False
    assert pipelines.get(base, build("never"))[1] is True
    assert pipelines.get(base[:5] + ("model", "lossless"), build("offload"))[1] is False
    assert pipelines.get(base[:6] + ("fast",), build("fast"))[1] is False
    assert builds == ["first", "offload", "fast"]


# --- the real process: stdin/stdout protocol, end of input, parent death -----------------

def start_worker(tmp_path: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "processing", "serve", "--device", "cpu", "--models-dir", str(tmp_path / "models")],
        cwd=REPO_ROOT, stdin=popen.pop("stdin", subprocess.PIPE), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **popen)


def read_line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    assert line, f"worker closed stdout; stderr:\n{proc.stderr.read()[-3000:]}"
    return json.loads(line)  # every stdout line is protocol: logs and prints go to stderr


def test_two_jobs_in_one_process_the_second_resident_then_end_of_input_exits(tmp_path):
    first = make_job(tmp_path, "first")
    second = make_job(tmp_path, "second", seed=9)
    third = make_job(tmp_path, "third", steps=50)
    proc = start_worker(tmp_path)
    try:
        ready = read_line(proc)
        assert ready == {"ready": True, "pid": proc.pid}
        proc.stdin.write(json.dumps(first) + "\n")
        proc.stdin.flush()
        assert read_line(proc) == {"id": "first", "output": first["output"], "status": "completed", "exit_code": 0,
                                   "resident": False}
        proc.stdin.write(json.dumps(second) + "\n" + "not json\n" + json.dumps({"input": 3}) + "\n")
        proc.stdin.flush()
        assert read_line(proc)["status"] == "completed"
        assert read_line(proc) == {"id": None, "status": "rejected", "error": "'input' must be a directory path"}
        # A job and its cancel in one write: the cancel finds it queued, and it never starts.
        proc.stdin.write(json.dumps(third) + "\n" + json.dumps({"cancel": "third"}) + "\n")
        proc.stdin.flush()
        assert read_line(proc)["status"] == "cancelled"
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    assert (metadata(first)["runtime"]["resident"], metadata(second)["runtime"]["resident"]) == (False, True)
    assert metadata(second)["runtime"]["load_s"] < 0.05
    assert output(second, "video.mp4").stat().st_size > 0
    assert not output(third, "video.mp4").exists()


def test_the_worker_exits_when_its_parent_dies_even_if_stdin_stays_open(tmp_path):
    # The parent starts the worker with a stdin pipe this test also holds open, so only the
    # parent check can notice; the parent prints the worker's pid and then is killed.
    read_end, write_end = os.pipe()
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         f"w = subprocess.Popen([sys.executable, '-m', 'processing', 'serve', '--device', 'cpu'], stdin={read_end},"
         " stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=sys.argv[1], text=True)\n"
         "print(w.pid, w.stdout.readline().strip(), flush=True)\n"
         "time.sleep(600)\n", str(REPO_ROOT)],
        stdout=subprocess.PIPE, text=True, pass_fds=(read_end,))
    try:
        pid_text, ready = parent.stdout.readline().split(" ", 1)
        worker_pid = int(pid_text)
        assert json.loads(ready)["ready"] is True
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and alive(worker_pid):
            time.sleep(0.1)
        assert not alive(worker_pid)
    finally:
        parent.kill()
        os.close(read_end)
        os.close(write_end)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an exited child of a dead parent is reaped by init; until then it is a zombie
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
