"""The test-only fork server (test/support/forkserver.py) changes nothing a real job writes: the tiny-random job run
through the fork client and on a fresh interpreter gives the same files, exit code, stdout and stderr.

This check lived in test/scripts/forkserver.test.ts, where the fresh interpreter's imports (~10 s of a core) were the
slowest part of the vitest run; it is about Python code, so it runs here (scripts/pytest.sh), with a server of its
own. forkserver.test.ts keeps the rest (argv, cwd, environment, stdio, exit codes, signals, the dead-server fallback).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "test" / "support" / "forkclient.py"
# What LocalRunner passes a job (its allow-list), here PATH alone: the same for the client, the server it starts
# (forkclient.py's SERVER_ENV) and the fresh interpreter.
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
JOB = {"id": "fork", "model": "tiny-random", "prompt": "a bee on a flower", "seed": 3, "frames": 9, "steps": 2}


def fork_shim(socket: Path, owner: int) -> str:
    """The stand-in python, as forkShim in test/global-setup.ts writes it for a vitest run."""
    return "\n".join([
        f"#!{sys.executable} -SI",
        "# The fork server's stand-in python (test/python/test_forkserver_job.py).",
        "import runpy, sys",
        f"sys.argv[1:1] = [{json.dumps(str(socket))}, {json.dumps(str(owner))}]",
        f"runpy.run_path({json.dumps(str(CLIENT))}, run_name=\"__main__\")",
        "",
    ])


@pytest.fixture
def shim(tmp_path):
    """A stand-in python whose server ends with this test (SIGTERM; it also ends with this process)."""
    folder = tmp_path / "forkserver"
    folder.mkdir()
    path = folder / "python"
    path.write_text(fork_shim(folder / "server.sock", os.getpid()))
    path.chmod(0o755)
    yield path
    pid_file = folder / "server.sock.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)


def run_job(python: str, work: Path, out: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "processing", "run", "--input-dir", str(work / "job-in"), "--output-dir", str(work / out),
         "--models-dir", str(work / "models"), "--device", "cpu"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="the fork server is Linux-only")
def test_the_tiny_random_job_through_the_fork_server_writes_what_it_writes_on_a_fresh_python(shim, tmp_path):
    (tmp_path / "job-in").mkdir()
    (tmp_path / "job-in" / "job.json").write_text(json.dumps(JOB))
    forked = run_job(str(shim), tmp_path, "forked")
    real = run_job(sys.executable, tmp_path, "real")
    assert forked.returncode == 0, forked.stderr
    assert real.returncode == 0, real.stderr
    # It ran in a fork of the server, not on the real python the client falls back to.
    log = (shim.parent / "server.log").read_text()
    assert re.search(r"forkserver: \d+ runs \['-m', 'processing', 'run'\]", log), log
    assert "fallback" not in log, log

    assert forked.stdout == real.stdout

    # The log lines, without their time and the output folder's name.
    def lines(text: str, out: str) -> list[str]:
        return [re.sub(r"^\S+ \S+ ", "", line).replace(str(tmp_path / out), "OUT") for line in text.split("\n")]

    assert lines(forked.stderr, "forked") == lines(real.stderr, "real")
    for name in ("video.mp4", "poster.jpg"):
        assert (tmp_path / "forked" / name).read_bytes() == (tmp_path / "real" / name).read_bytes(), name

    def progress(out: str) -> dict:
        return {**json.loads((tmp_path / out / "progress.json").read_text()), "elapsed_s": 0, "updated_at": ""}

    assert progress("forked") == progress("real")

    # metadata.json: the same but for the times (and the forked job's imports took none).
    def timeless(out: str) -> dict:
        meta = json.loads((tmp_path / out / "metadata.json").read_text())
        runtime = {k: v for k, v in meta["runtime"].items()
                   if k not in ("load_s", "loading_at_s", "startup_s", "denoise_steps_s")}
        runtime["denoise_steps"] = meta["runtime"]["denoise_steps_s"]["steps"]  # the count, not the times
        # How the noise was drawn, but not how often the draw thread was late (the machine's timing).
        runtime["noise_draws"] = {k: v for k, v in meta["runtime"]["noise_draws"].items() if k != "waited"}
        optimizations = runtime["optimizations"]
        runtime["optimizations"] = {**optimizations, "loading": {**optimizations["loading"], "at_s": None}}
        return {**meta, "timings_s": None, "runtime": runtime}

    assert timeless("forked") == timeless("real")
