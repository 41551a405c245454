"""The SageMaker asynchronous-endpoint worker (`python -m processing serve-http`) against moto's S3 server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")

from processing import job as job_module  # noqa: E402
from processing.cli import parse_args  # noqa: E402
from processing.serve import Worker  # noqa: E402
from processing.serve_http import (  # noqa: E402
    InvocationHandler, ProgressUploader, S3Folder, S3Prefix, make_server, models_dir_for,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = {"model": "tiny-random", "prompt": "a red fox in the snow", "seed": 7, "frames": 9, "steps": 2}
BUCKET = "videobot-jobs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def aws_env(moto_url, monkeypatch):
    """boto3 finds moto through AWS_ENDPOINT_URL, as the worker does on an endpoint through the real one."""
    for key, value in {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return moto_url


@pytest.fixture
def s3(aws_env):
    client = boto3.client("s3")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return client


def put_job(s3, job_id: str, **fields) -> dict:
    """Puts job.json into the job's input prefix; returns the invocation body naming both prefixes."""
    s3.put_object(Bucket=BUCKET, Key=f"jobs/{job_id}/input/job.json",
                  Body=json.dumps({"id": job_id, **TINY, **fields}).encode())
    return {"job_id": job_id, "attempt": 1, "input": f"s3://{BUCKET}/jobs/{job_id}/input/",
            "output": f"s3://{BUCKET}/jobs/{job_id}/output/"}


def outputs(s3, job_id: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"jobs/{job_id}/output/").get("Contents", [])
    return {o["Key"].rsplit("/", 1)[1]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def post(url: str, body: object) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def ping(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:  # SageMaker waits 2 s
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


class Served:
    """An InvocationHandler behind the real HTTP server on a free port; `hold` pauses the job at a step."""

    def __init__(self, tmp_path: Path, s3, *, gpu_check=lambda: True, cancel_poll_s: float = 0.05) -> None:
        settings = job_module.Settings(input_dir=Path("."), output_dir=Path("."), models_dir=tmp_path / "models",
                                       allow_download=False, device="cpu", memory_plan="auto", image_fit=None)
        self.seen: list[dict] = []
        self.hold_at: tuple[str, int] | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.worker = Worker(settings, sagemaker_output=tmp_path / "no-sagemaker", gpu_check=gpu_check,
                             observer=self._observe)
        (tmp_path / "work").mkdir(exist_ok=True)
        self.handler = InvocationHandler(self.worker, s3, workdir=tmp_path / "work", cancel_poll_s=cancel_poll_s)
        self.server = make_server(self.handler, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _observe(self, payload: dict) -> None:
        self.seen.append(payload)
        self.handler.on_progress(payload)
        if self.hold_at == (payload["phase"], payload["step"]):
            self.held.set()
            assert self.release.wait(30), "the test never released the job"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(tmp_path, s3):
    server = Served(tmp_path, s3)
    yield server
    server.close()


def test_an_invocation_makes_the_video_from_s3_into_s3_and_the_next_one_finds_the_pipeline_loaded(served, s3):
    first = put_job(s3, "j-first")
    second = put_job(s3, "j-second", seed=8)

    assert ping(served.url) == 200
    status, answer = post(served.url, first)

    assert (status, answer["status"], answer["job_id"], answer["resident"]) == (200, "completed", "j-first", False)
    files = outputs(s3, "j-first")
    assert set(files) == {"video.mp4", "poster.jpg", "metadata.json", "progress.json"}
    assert files["video.mp4"][4:8] == b"ftyp"  # an MP4
    assert json.loads(files["progress.json"])["phase"] == "done"
    assert json.loads(files["metadata.json"])["job"]["id"] == "j-first"

    status, answer = post(served.url, second)
    assert (status, answer["status"], answer["resident"]) == (200, "completed", True)
    assert json.loads(outputs(s3, "j-second")["metadata.json"])["runtime"]["resident"] is True


def test_progress_reaches_s3_while_the_job_runs_and_ping_answers_at_once(served, s3):
    body = put_job(s3, "j-progress", steps=4)
    served.hold_at = ("denoising", 2)
    answered: list = []
    invocation = threading.Thread(target=lambda: answered.append(post(served.url, body)))
    invocation.start()
    assert served.held.wait(60)

    started = time.monotonic()
    assert ping(served.url) == 200  # from its own thread, while the job holds the worker
    assert time.monotonic() - started < 2
    progress = json.loads(outputs(s3, "j-progress")["progress.json"])
    assert progress["phase"] == "denoising" and progress["total"] == 4
    assert "video.mp4" not in outputs(s3, "j-progress")

    served.release.set()
    invocation.join(60)
    assert answered[0][1]["status"] == "completed"


def test_a_cancel_marker_stops_the_running_job_between_steps(served, s3):
    body = put_job(s3, "j-cancel", steps=50)
    served.hold_at = ("denoising", 1)
    answered: list = []
    invocation = threading.Thread(target=lambda: answered.append(post(served.url, body)))
    invocation.start()
    assert served.held.wait(60)

    s3.put_object(Bucket=BUCKET, Key="jobs/j-cancel/output/cancel", Body=b"")
    deadline = time.monotonic() + 10
    while "j-cancel" not in served.worker._cancelled:  # the watcher saw the marker
        assert time.monotonic() < deadline, "the cancel marker was never seen"
        time.sleep(0.02)
    served.release.set()
    invocation.join(60)

    assert answered[0] == (200, {"job_id": "j-cancel", "attempt": 1, "output": body["output"],
                                 "status": "cancelled", "resident": False})
    steps = [p["step"] for p in served.seen if p["phase"] == "denoising"]
    assert max(steps) == 1  # stopped at the next step, not after 50
    assert set(outputs(s3, "j-cancel")) == {"cancel", "progress.json"}  # no video, no error


def test_a_job_cancelled_while_queued_never_starts(served, s3):
    body = put_job(s3, "j-queued")
    s3.put_object(Bucket=BUCKET, Key="jobs/j-queued/output/cancel", Body=b"")

    status, answer = post(served.url, body)

    assert (status, answer["status"]) == (200, "cancelled")
    assert served.seen == []  # nothing ran, nothing was loaded
    assert served.worker.pipelines.pipe is None


def test_a_failed_job_answers_200_with_error_json_in_s3(served, s3):
    body = put_job(s3, "j-bad", prompt="   ")

    status, answer = post(served.url, body)

    assert (status, answer["status"]) == (200, "failed")
    files = outputs(s3, "j-bad")
    assert json.loads(files["error.json"])["code"] == "INVALID_JOB"
    assert "video.mp4" not in files and "metadata.json" not in files


def test_a_repeated_invocation_of_a_finished_attempt_does_not_run_it_again(served, s3):
    body = put_job(s3, "j-twice")
    assert post(served.url, body)[1]["status"] == "completed"
    first_video = outputs(s3, "j-twice")["video.mp4"]
    runs = len(served.seen)

    status, answer = post(served.url, body)

    assert (status, answer["status"]) == (200, "done-before")
    assert len(served.seen) == runs
    assert outputs(s3, "j-twice")["video.mp4"] == first_video


@pytest.mark.parametrize("body, reason", [
    (b"not json", "the request must be a JSON object"),
    ({"job_id": "j", "input": "/local/dir", "output": "s3://b/jobs/j/output/"}, "'input' must be an s3:// prefix"),
    ({"input": "s3://b/jobs/j/input/", "output": "s3://b/jobs/j/output/"}, "'job_id' must be a job id"),
    ({"job_id": "j", "attempt": 0, "input": "s3://b/i/", "output": "s3://b/o/"}, "'attempt' must be a positive whole number"),
])
def test_a_request_that_is_not_a_job_gets_400_with_the_reason(served, body, reason):
    assert post(served.url, body) == (400, {"error": reason})
    assert ping(served.url) == 200


def test_a_job_that_leaves_the_gpu_unusable_answers_500_and_ping_fails_from_then_on(tmp_path, s3):
    served = Served(tmp_path, s3, gpu_check=lambda: False)
    try:
        body = put_job(s3, "j-gpu", prompt="")
        status, answer = post(served.url, body)
        assert (status, answer["status"]) == (500, "failed")
        error = json.loads(outputs(s3, "j-gpu")["error.json"])
        assert error["code"] == "INTERNAL_ERROR" and error["retryable"] is True
        assert ping(served.url) == 500  # SageMaker replaces the instance
        assert post(served.url, put_job(s3, "j-after"))[0] == 500
        assert "metadata.json" not in outputs(s3, "j-after")
    finally:
        served.close()


def test_s3_unreachable_answers_500(tmp_path, monkeypatch, s3):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    from botocore.config import Config

    served = Served(tmp_path, boto3.client("s3", config=Config(retries={"max_attempts": 1}, connect_timeout=1)))
    try:
        status, answer = post(served.url, {"job_id": "j-s3", "input": f"s3://{BUCKET}/jobs/j-s3/input/",
                                           "output": f"s3://{BUCKET}/jobs/j-s3/output/"})
        assert status == 500 and answer["job_id"] == "j-s3"
        assert ping(served.url) == 200  # S3 trouble is not the instance's fault
    finally:
        served.close()


def test_progress_uploads_every_phase_but_throttles_steps(tmp_path, s3):
    (tmp_path / "progress.json").write_text("{}")
    now = [0.0]
    uploader = ProgressUploader(S3Folder(s3, S3Prefix(BUCKET, "jobs/j-throttle/output/")), tmp_path, 2.0,
                                clock=lambda: now[0])
    for phase, step, at in [("loading", 0, 0.0), ("denoising", 0, 0.1), ("denoising", 1, 0.5),
                            ("denoising", 2, 1.9), ("denoising", 3, 2.2), ("decoding", 0, 2.3)]:
        now[0] = at
        uploader({"phase": phase, "step": step})
    assert uploader.uploads == 4  # loading, denoising start, step 3 (2.1 s later), decoding


def test_the_image_serve_command_is_the_http_worker_on_an_endpoint(monkeypatch, tmp_path):
    assert parse_args(["serve"]).command == "serve"  # locally: the NDJSON worker
    monkeypatch.setenv("VIDEOBOT_SERVE_TRANSPORT", "http")  # the endpoint's model sets it
    args = parse_args(["serve"])
    assert (args.command, args.port, args.models_dir) == ("serve-http", 8080, Path("/opt/ml/model"))

    weights = tmp_path / "opt-ml-model"
    weights.mkdir()
    layout = models_dir_for(weights, "cogvideox-5b", tmp_path / "work")
    assert (layout / "cogvideox-5b").resolve() == weights.resolve()
    assert models_dir_for(weights, None, tmp_path / "work") == weights


def test_python_m_processing_serve_http_answers_ping_and_an_invocation(aws_env, s3, tmp_path):
    port = free_port()
    body = put_job(s3, "j-process")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "processing", "serve-http", "--host", "127.0.0.1",
                             "--port", str(port), "--device", "cpu", "--models-dir", str(tmp_path / "models"),
                             "--workdir", str(tmp_path / "work")],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert ping(url) == 200
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "serve-http did not start"
                time.sleep(0.1)
        status, answer = post(url, body)
        assert (status, answer["status"]) == (200, "completed")
        assert "video.mp4" in outputs(s3, "j-process")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
