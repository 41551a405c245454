"""processing.exit_now: the process ends as soon as its command returns, with its code and everything it printed,
unless something still runs beside it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_code_and_the_output_survive_the_quick_exit():
    done = run("import logging, sys; from processing import exit_now; logging.basicConfig(stream=sys.stderr);"
               "print('to stdout', end=''); logging.getLogger('x').warning('to the log');"
               "import atexit; atexit.register(lambda: print(' atexit ran'));"
               "exit_now(3)")
    assert done.returncode == 3
    assert done.stdout == "to stdout"  # buffered output flushed; the interpreter's teardown (atexit) skipped
    assert "to the log" in done.stderr


def test_none_is_success():
    assert run("from processing import exit_now; exit_now(None)").returncode == 0


def test_a_thread_still_working_is_waited_for():
    done = run("import threading, time; from processing import exit_now;"
               "t = threading.Thread(target=lambda: (time.sleep(0.5), print('thread finished', flush=True)));"
               "t.start(); exit_now(4)")
    assert done.returncode == 4 and "thread finished" in done.stdout


def test_the_job_command_ends_with_its_outputs_written(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "job.json").write_text('{"id": "t", "model": "tiny-random", "prompt": "a fox", "seed": 1, '
                                              '"frames": 9, "steps": 2}')
    done = subprocess.run([sys.executable, "-m", "processing", "run", "--input-dir", str(tmp_path / "in"),
                           "--output-dir", str(tmp_path / "out"), "--models-dir", str(tmp_path / "models"),
                           "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"video.mp4", "poster.jpg", "metadata.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    # A failing job's exit code, error.json and log line: test_cli.py's run through the same entry point.
