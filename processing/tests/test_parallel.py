"""Several workers in one job (processing/parallel.py), on CPU over gloo: the plan and the --gpus flag,
the CFG split's frames against one process, the launcher's outputs, and a worker that dies."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from processing import cli, parallel
from processing.parallel import Worker, choose_error, choose_plan, worker_devices
from processing.tests.support import run_job

STEPS = 3
TINY = {"id": "j_par", "model": "tiny-random", "prompt": "a red fox in the snow", "seed": 11, "steps": STEPS}


# --- the plan ---------------------------------------------------------------------------------------

def test_one_process_on_cpu_and_on_one_gpu_unless_asked():
    assert choose_plan("auto", 0, 6.0, "cpu").world_size == 1
    assert choose_plan("auto", 1, 6.0, "cuda").world_size == 1


def test_two_gpus_split_the_guidance_batch():
    plan = choose_plan("auto", 2, 6.0, "cuda")
    assert (plan.world_size, plan.plan, plan.visible) == (2, "cfg", 2)


def test_more_gpus_than_the_cfg_split_uses_two_and_says_why():
    plan = choose_plan("auto", 8, 6.0, "cuda")
    assert (plan.world_size, plan.plan) == (2, "cfg")
    assert "6 more unused" in plan.reason and "sequence parallel" in plan.reason


def test_no_guidance_means_one_batch_row_and_one_process():
    plan = choose_plan("auto", 2, 1.0, "cuda")
    assert (plan.world_size, plan.plan) == (1, None)
    assert "guidance" in plan.reason


def test_a_family_that_calls_the_transformer_once_per_guidance_half_runs_in_one_process():
    plan = choose_plan("auto", 2, 5.0, "cuda", family="wan")
    assert (plan.world_size, plan.plan) == (1, None)
    assert "wan" in plan.reason
    assert choose_plan("auto", 2, 5.0, "cuda", family="cogvideox").world_size == 2


def test_asking_for_more_gpus_than_visible_uses_those_there_are():
    assert choose_plan("4", 2, 6.0, "cuda").world_size == 2
    assert choose_plan("2", 1, 6.0, "cuda").world_size == 1
    assert choose_plan("2", 0, 6.0, "cpu").world_size == 2  # CPU workers: the tests


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_gpus_flag_takes_auto_or_a_whole_number(value, capsys):
    assert cli.parse_args(["run", "--gpus", "2"]).gpus == "2"
    assert cli.parse_args(["run"]).gpus == "auto"
    with pytest.raises(SystemExit):
        cli.parse_args(["run", "--gpus", value])
    assert "--gpus" in capsys.readouterr().err


def test_each_worker_gets_one_of_the_launchers_gpus():
    assert worker_devices(2, "4,5,6") == ["4", "5"]
    assert worker_devices(2, None) == ["0", "1"]
    assert worker_devices(2, "") == ["0", "1"]


def test_the_error_the_user_reads_is_the_most_specific_one(tmp_path):
    out, private = tmp_path / "out", tmp_path / "w1"
    out.mkdir()
    private.mkdir()
    (out / "error.json").write_text(json.dumps({"code": "INTERNAL_ERROR", "message": "lost my peer"}))
    (private / "error.json").write_text(json.dumps({"code": "GPU_OUT_OF_MEMORY", "message": "The GPU ran out"}))
    w0, w1 = Worker(0, None, tmp_path / "w0", 1, 2.0), Worker(1, None, private, 1, 1.0)
    assert choose_error(w0, [w0, w1], out)["code"] == "GPU_OUT_OF_MEMORY"  # worker 0 only failed for lack of 1
    (private / "error.json").unlink()
    assert choose_error(w0, [w0, w1], out)["message"] == "lost my peer"
    assert choose_error(w1, [w0, w1], out) is None  # killed first: the launcher says a worker stopped


# --- the split's arithmetic: two gloo processes against one -------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _generate(decode_all: bool = True):
    from processing import pipeline
    from processing.presets import load_presets

    preset = load_presets().get("tiny-random")
    pipe = pipeline.build_pipeline(preset, "t2v", None, "cpu", "float32", "none", speed="lossless")
    split = parallel.attach(pipe)
    frames = pipeline.generate(pipe, preset=preset, mode="t2v", prompt=TINY["prompt"], negative_prompt="",
                               seed=TINY["seed"], frames=9, steps=STEPS, guidance=6.0, height=64, width=96,
                               device="cpu")
    return frames, split


def _split_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    parallel.join("cpu")
    try:
        frames, split = _generate()
        np.save(Path(out) / f"frames-{rank}.npy", frames)
        (Path(out) / f"split-{rank}.json").write_text(json.dumps({"calls": split.calls, "rows": split.rows}))
    finally:
        parallel.leave()


def test_two_workers_make_the_frames_one_process_makes(tmp_path):
    import torch.multiprocessing as mp

    single, split = _generate()
    assert split is None  # no group: attach leaves the pipeline alone
    mp.spawn(_split_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"split-{rank}.json").read_text()) == {"calls": STEPS, "rows": 1}
        frames = np.load(tmp_path / f"frames-{rank}.npy")
        assert frames.shape == single.shape
        # float32 on CPU: a batch of one row instead of two changes only the summation order.
        assert np.abs(frames - single).max() < 1e-4


# --- the launcher: outputs, and a worker that dies ------------------------------------------------------

def test_the_launcher_writes_one_set_of_outputs_from_worker_zero(job_dir, tmp_path):
    outcome = run_job(job_dir(TINY), tmp_path / "out", "--gpus", "2")
    assert outcome.exit_code == 0
    assert sorted(p.name for p in outcome.output_dir.iterdir()) == \
        ["metadata.json", "poster.jpg", "progress.json", "video.mp4"]
    assert outcome.json("progress.json")["phase"] == "done"
    metadata = outcome.json("metadata.json")
    assert metadata["parallel"] == {
        "world_size": 2, "plan": "cfg", "backend": "gloo", "gpus_visible": 0,
        "peak_gpu_memory_bytes_per_worker": [None, None],
        "transformer_calls_per_worker": [STEPS, STEPS], "batch_rows_per_call": [1, 1]}
    single = run_job(job_dir(TINY), tmp_path / "single")
    assert single.exit_code == 0 and single.json("metadata.json")["parallel"] is None
    assert metadata["output"] == single.json("metadata.json")["output"]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


def _rank_of(pid: int) -> str | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"RANK=")), None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_a_worker_that_dies_ends_the_job_with_one_error_and_no_workers_left(job_dir, tmp_path):
    seen: dict[str, int] = {}

    def kill_worker_one():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "1" not in seen:
            for pid in _children(os.getpid()):
                rank = _rank_of(pid)
                if rank is not None:
                    seen.setdefault(rank, pid)
            time.sleep(0.02)
        if "1" in seen:
            os.kill(seen["1"], signal.SIGKILL)

    killer = threading.Thread(target=kill_worker_one)
    killer.start()
    outcome = run_job(job_dir(TINY), tmp_path / "out", "--gpus", "2")
    killer.join()
    assert "1" in seen, "worker 1 never started"
    assert outcome.exit_code != 0
    error = outcome.json("error.json")
    assert error["code"] == "INTERNAL_ERROR" and "worker" in error["message"]
    assert not (outcome.output_dir / "video.mp4").exists()
    assert [pid for pid in seen.values() if _alive(pid)] == []


# --- one worker's batch of one row still compiles one graph for every block ---------------------------

def test_a_batch_of_one_row_compiles_one_graph_for_all_blocks():
    """A worker's half of the CFG batch is one row. `.contiguous()` keeps a slice whose leading dim
    is 1 as it is (an odd stride and offset), so block 0 (slices of the patch embedding) and the
    other blocks (fresh tensors) would need two graphs; the GPU run showed the extra compile in the
    first step. The block list's layout fix-up must give every block the same layout."""
    import copy

    import torch
    from torch._dynamo.testing import CompileCounter

    from processing import optimize
    from processing.benchmarks import bench

    tiny = bench.SPECS["tiny-random"]
    pipe = bench.make_pipeline(tiny, bench.build_transformer(tiny, "cpu"), bench.build_vae(tiny, "cpu"))
    inputs = bench.transformer_inputs(tiny, pipe, "cpu")
    row = {k: (v[1:2] if hasattr(v, "shape") and v.ndim and v.shape[0] == 2 else v) for k, v in inputs.items()}
    with torch.no_grad():
        reference = pipe.transformer(**row)[0]
    counter = CompileCounter()
    torch._dynamo.reset()
    compiled = bench.make_pipeline(tiny, copy.deepcopy(pipe.transformer), pipe.vae)
    optimize.apply(compiled, optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True,
                                              compile_backend=counter))
    with torch.no_grad():
        out = compiled.transformer(**row)[0]
    torch._dynamo.reset()
    assert counter.frame_count == 1
    assert bench.relative_difference(out, reference) < 1e-6


# --- the launcher stopped from outside: no worker outlives it ---------------------------------------------

def _start_launcher(job: Path, out: Path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    # TMPDIR: a launcher killed with SIGKILL cannot remove its workers' private folders.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
               TMPDIR=str(out.parent))
    return subprocess.Popen([sys.executable, "-m", "processing", "run", "--input-dir", str(job), "--output-dir",
                             str(out), "--models-dir", str(out.parent / "no-models"), "--device", "cpu", "--gpus", "2"],
                            env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _workers_of(pid: int, timeout_s: float = 60) -> dict[str, int]:
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(seen) < 2:
        for child in _children(pid):
            rank = _rank_of(child)
            if rank is not None:
                seen.setdefault(rank, child)
        time.sleep(0.02)
    return seen


def _gone(pids, timeout_s: float = 15) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_launcher_stops_its_workers(how, job_dir, tmp_path):
    """SIGTERM (SageMaker's stop, the bot's cancel): the launcher ends its workers and exits; SIGKILL:
    the workers die with it (PR_SET_PDEATHSIG), so no GPU stays held by an orphan."""
    launcher = _start_launcher(job_dir(TINY), tmp_path / "out")
    try:
        workers = _workers_of(launcher.pid)
        assert sorted(workers) == ["0", "1"]
        os.kill(launcher.pid, how)
        code = launcher.wait(timeout=30)
        assert code == (128 + signal.SIGTERM if how == signal.SIGTERM else -signal.SIGKILL)
        assert _gone(workers.values()), "a worker outlived its launcher"
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_the_bench_compares_a_multi_gpu_video_with_the_one_gpu_video(tmp_path):
    """bench --job-gpus: the relative difference and PSNR of the decoded frames (docs/performance.md)."""
    from processing import video
    from processing.benchmarks.bench import compare_videos

    frames = np.random.default_rng(0).random((9, 64, 96, 3), dtype=np.float32)
    for name, data in (("one", frames), ("same", frames), ("other", frames[::-1].copy())):
        (tmp_path / name).mkdir()
        video.encode_mp4(data, tmp_path / name / "video.mp4", 8)
    same = compare_videos(tmp_path / "one", tmp_path / "same")
    assert same["frames_rel_diff"] == 0 and same["frames_max_abs_diff"] == 0
    other = compare_videos(tmp_path / "one", tmp_path / "other")
    assert other["frames_rel_diff"] > 0.1 and other["frames_psnr_db"] < 20
    assert "error" in compare_videos(tmp_path / "one", tmp_path / "missing")
