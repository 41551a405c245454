"""tiny-random through the real pipeline classes on CPU: t2v and i2v end to end, and determinism."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from processing import pipeline
from processing.presets import load_presets
from processing.progress import PHASES
from processing.video import probe
from processing.tests.support import run_job

TINY = {"id": "j_tiny", "model": "tiny-random", "prompt": "a red fox in the snow", "seed": 7,
        "frames": 9, "steps": 2}


def png_bytes(size=(120, 80), colour=(200, 30, 30, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def t2v(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2v")
    (root / "input").mkdir()
    (root / "input" / "job.json").write_text(json.dumps({**TINY, "mode": "t2v"}))
    return run_job(root / "input", root / "out")


@pytest.fixture(scope="module")
def i2v(tmp_path_factory):
    root = tmp_path_factory.mktemp("i2v")
    (root / "input").mkdir()
    (root / "input" / "job.json").write_text(json.dumps(
        {**TINY, "mode": "i2v", "image": "start.png", "image_fit": "pad", "frames": 17, "fps": 12}))
    (root / "input" / "start.png").write_bytes(png_bytes())
    return run_job(root / "input", root / "out")


def check_outputs(outcome, *, frames, fps):
    assert outcome.exit_code == 0, (outcome.output_dir / "error.json").read_text() \
        if (outcome.output_dir / "error.json").exists() else outcome.exit_code
    out = outcome.output_dir
    assert not (out / "error.json").exists()

    info = probe(out / "video.mp4")
    assert (info.codec, info.pix_fmt, info.faststart) == ("h264", "yuv420p", True)
    assert (info.width, info.height, info.frames, info.fps) == (96, 64, frames, float(fps))

    with Image.open(out / "poster.jpg") as poster:
        assert poster.format == "JPEG" and poster.size == (96, 64)

    progress = outcome.json("progress.json")
    assert progress["phase"] == "done" and isinstance(progress["elapsed_s"], float)
    assert progress["updated_at"].endswith("+00:00")
    return outcome.json("metadata.json")


def check_progress_history(history, steps):
    phases = [p["phase"] for p in history]
    order = [phase for i, phase in enumerate(phases) if i == 0 or phases[i - 1] != phase]
    assert order == list(PHASES)
    denoising = [p for p in history if p["phase"] == "denoising"]
    assert [p["step"] for p in denoising] == list(range(0, steps + 1))
    assert all(p["total"] == steps for p in denoising)
    assert denoising[0]["eta_s"] is None and denoising[-1]["eta_s"] == 0
    assert all(isinstance(p["eta_s"], float) for p in denoising[1:])


def test_t2v_end_to_end(t2v):
    metadata = check_outputs(t2v, frames=9, fps=8)
    check_progress_history(t2v.progress, steps=2)
    assert metadata["job"]["seed"] == 7 and metadata["job"]["mode"] == "t2v"
    assert metadata["job"]["prompt"] == TINY["prompt"] and metadata["job"]["steps"] == 2
    assert metadata["model"]["preset"] == "tiny-random" and metadata["model"]["test_only"] is True
    assert "test model" in metadata["model"]["label"]
    assert metadata["model"]["dtype"] == "float32"
    assert metadata["model"]["scheduler"] == "CogVideoXDPMScheduler"
    assert metadata["runtime"]["device"] == "cpu" and metadata["runtime"]["memory_plan"] == "none"
    assert metadata["runtime"]["peak_gpu_memory_bytes"] is None
    assert list(metadata["timings_s"]) == ["loading", "denoising", "decoding", "encoding", "total"]
    assert all(v >= 0 for v in metadata["timings_s"].values())
    steps = metadata["runtime"]["denoise_steps_s"]  # the first step apart from the median of the others
    assert steps["steps"] == 2 and 0 < steps["median"] <= steps["max"] and steps["first"] > 0
    assert steps["first"] + steps["median"] <= metadata["timings_s"]["denoising"]
    # The latents drawn on the spot; the two steps' one draw each (first and last step) made ahead.
    assert (metadata["runtime"]["noise_draws"]["served"], metadata["runtime"]["noise_draws"]["drawn"]) == (2, 1)
    # The golden file the bot's tests read (test/fixtures/contract/) has every runtime field a job writes.
    golden = json.loads((Path(__file__).resolve().parents[2] / "test" / "fixtures" / "contract" / "metadata.json")
                        .read_text(encoding="utf-8"))
    assert set(golden["runtime"]) == set(metadata["runtime"])
    assert metadata["versions"]["torch"] and metadata["versions"]["diffusers"]
    assert metadata["output"] == {"video": "video.mp4", "poster": "poster.jpg", "frames": 9, "fps": 8,
                                  "height": 64, "width": 96, "codec": "h264", "pix_fmt": "yuv420p"}


def test_i2v_end_to_end(i2v):
    metadata = check_outputs(i2v, frames=17, fps=12)
    check_progress_history(i2v.progress, steps=2)
    assert metadata["job"]["mode"] == "i2v" and metadata["job"]["image"] == "start.png"
    assert metadata["job"]["image_fit"] == "pad"


def test_defaults_come_from_the_preset(job_dir, tmp_path):
    outcome = run_job(job_dir({"model": "tiny-random", "prompt": "defaults", "steps": 1}), tmp_path / "out")
    metadata = check_outputs(outcome, frames=9, fps=8)
    assert metadata["job"]["guidance"] == 6.0 and metadata["job"]["negative_prompt"] == ""
    assert isinstance(metadata["job"]["seed"], int)


@pytest.fixture(scope="module")
def tiny_t2v_pipe():
    preset = load_presets().get("tiny-random")
    return preset, pipeline.build_pipeline(preset, "t2v", None, "cpu", "float32", "none")


def generate(preset, pipe, seed):
    return pipeline.generate(pipe, preset=preset, mode="t2v", prompt="determinism", negative_prompt="",
                             seed=seed, frames=9, steps=2, guidance=6.0, height=64, width=96, device="cpu")


def test_same_seed_same_frames(tiny_t2v_pipe):
    preset, pipe = tiny_t2v_pipe
    first, second, other = generate(preset, pipe, 3), generate(preset, pipe, 3), generate(preset, pipe, 4)
    assert first.shape == (9, 64, 96, 3) and first.min() >= 0 and first.max() <= 1
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_tiny_weights_are_the_same_every_build(tiny_t2v_pipe):
    preset, pipe = tiny_t2v_pipe
    again = pipeline.build_pipeline(preset, "t2v", None, "cpu", "float32", "none")
    np.testing.assert_array_equal(generate(preset, pipe, 5), generate(preset, again, 5))


def test_real_preset_loads_from_models_dir(tiny_t2v_pipe, tmp_path):
    """The save_pretrained layout a real preset ships in loads through the same code path."""
    tiny, pipe = tiny_t2v_pipe
    presets = load_presets()
    two_b = presets.get("cogvideox-2b")
    pipe.save_pretrained(tmp_path / "cogvideox-2b")
    weights = pipeline.resolve_weights(two_b, tmp_path, allow_download=False)
    assert weights == str(tmp_path / "cogvideox-2b")
    loaded = pipeline.build_pipeline(two_b, "t2v", weights, "cpu", pipeline.resolve_dtype(two_b, "cpu"), "none")
    assert type(loaded.scheduler).__name__ == "CogVideoXDDIMScheduler"
    assert loaded.scheduler.config.timestep_spacing == "trailing"
    frames = pipeline.generate(loaded, preset=tiny, mode="t2v", prompt="x", negative_prompt="", seed=1,
                               frames=9, steps=1, guidance=6.0, height=64, width=96, device="cpu")
    assert frames.shape == (9, 64, 96, 3)


def test_direct_load_gives_the_same_weights_in_parallel_and_restores_the_flags(tiny_t2v_pipe, tmp_path,
                                                                                 monkeypatch):
    """Loading straight onto the device (what lossless and fast do on a GPU with everything resident)
    reads every shard of every component, in parallel, and leaves the libraries' flags as they were."""
    import os

    import torch
    from diffusers.models import modeling_utils

    tiny, pipe = tiny_t2v_pipe
    # Small shards, so each component has several files for the parallel loader to read.
    pipe.save_pretrained(tmp_path / "weights", max_shard_size="20KB")
    assert len(list((tmp_path / "weights" / "transformer").glob("*.safetensors"))) > 1
    import transformers.modeling_utils as transformers_loading

    parallel = []

    def spy(module, name):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, **k: parallel.append(module.__name__) or real(*a, **k))

    spy(modeling_utils, "_load_shard_files_with_threadpool")
    spy(transformers_loading, "load_shard_files_with_threadpool")
    flag = modeling_utils.HF_ENABLE_PARALLEL_LOADING
    plain = pipeline.load_components(tiny, "t2v", str(tmp_path / "weights"), torch.float32)
    assert parallel == []
    direct = pipeline.load_components(tiny, "t2v", str(tmp_path / "weights"), torch.float32, direct_to="cpu")
    assert sorted(parallel) == ["diffusers.models.modeling_utils"] * 2 + ["transformers.modeling_utils"]
    assert modeling_utils.HF_ENABLE_PARALLEL_LOADING == flag and "HF_ENABLE_PARALLEL_LOADING" not in os.environ
    assert direct.hf_device_map is None
    for name in ("transformer", "text_encoder", "vae"):
        expected, got = getattr(plain, name).state_dict(), getattr(direct, name).state_dict()
        assert list(expected) == list(got)
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    direct.to("cpu")  # usable like any pipeline


def test_read_ahead_reads_every_weight_file_in_ranges(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "READ_AHEAD_CHUNK", 1000)  # ranges of 4000 bytes, read 1000 at a time
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "a.safetensors").write_bytes(b"x" * 10_001)
    (tmp_path / "b.safetensors").write_bytes(b"y" * 3)
    (tmp_path / "config.json").write_text("{}")  # not a weight file
    assert pipeline.read_ahead(tmp_path, threads=3) == 10_004
    assert pipeline.read_ahead(tmp_path / "missing") == 0


@pytest.mark.parametrize("speed,plan,reads", [("lossless", "none", True), ("stock", "none", False),
                                             ("lossless", "model", False)])
def test_the_weights_are_read_ahead_only_where_they_stay_resident(tmp_path, monkeypatch, speed, plan, reads):
    tiny = load_presets().get("tiny-random")
    pipeline.build_pipeline(tiny, "t2v", None, "cpu", "float32", "none").save_pretrained(tmp_path / "w")
    read = []
    monkeypatch.setattr(pipeline, "read_ahead", lambda weights: read.append(weights) or 1)
    pipe = pipeline.build_pipeline(load_presets().get("cogvideox-2b"), "t2v", str(tmp_path / "w"), "cpu", "float32",
                                   plan, speed=speed)
    assert read == ([tmp_path / "w"] if reads else [])
    loading = (pipeline.optimizations(pipe) or {}).get("loading") or {}
    assert loading.get("read_ahead_bytes") == (1 if reads else None)


def direct_load_flow(root: str, unknown_key: bool = False) -> None:
    """The GPU loading flow, run on CPU: prewarm from transformer/config.json, read-ahead, direct
    load, and a first real call that compiles nothing. Runs in a process of its own (below). With
    `unknown_key` the saved VAE holds a tensor the model does not have: the two-half loader refuses it
    and the job loads with from_pretrained (which ignores it, with a warning) instead."""
    from pathlib import Path

    import torch
    from torch._dynamo.testing import CompileCounter

    from processing import optimize

    tmp_path = Path(root)
    tiny = load_presets().get("tiny-random")
    pipe = pipeline.build_pipeline(tiny, "t2v", None, "cpu", "float32", "none")
    two_b = load_presets().get("cogvideox-2b")
    pipe.save_pretrained(tmp_path / "cogvideox-2b")
    if unknown_key:
        from safetensors.torch import load_file, save_file

        (vae_file,) = (tmp_path / "cogvideox-2b" / "vae").glob("*.safetensors")
        save_file({**load_file(vae_file), "decoder.from_an_older_layout.weight": torch.zeros(3)}, vae_file)
    counter = CompileCounter()
    options = optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True, compile_backend=counter,
                               direct_load=True, prewarm=True)
    optimize.options_for = lambda *a: options  # this process ends with the test
    torch.compiler.save_cache_artifacts = lambda: (b"kernels", None)
    shape = optimize.WarmShape(batch=2, frames=9, height=64, width=96, text_tokens=tiny.max_text_tokens)
    loaded = pipeline.build_pipeline(two_b, "t2v", str(tmp_path / "cogvideox-2b"), "cpu", "float32", "none",
                                     speed="lossless", compile_cache_dir=tmp_path / "cache", warm_shape=shape)
    assert counter.frame_count == 1  # compiled by the prewarm, before the first real call
    frames = pipeline.generate(loaded, preset=tiny, mode="t2v", prompt="x", negative_prompt="", seed=1,
                               frames=9, steps=2, guidance=6.0, height=64, width=96, device="cpu")
    report = pipeline.optimizations(loaded)
    assert frames.shape == (9, 64, 96, 3) and counter.frame_count == 1
    assert report["compile_cache"]["first_call_new_graphs"] == 0 and report["compile_cache"]["saved"]
    from processing import loader

    tensor_bytes = sum(e.end - e.begin for f in (tmp_path / "cogvideox-2b").rglob("*.safetensors")
                       for e in loader.entries(f))
    # Read onto the device from the start, beside the imports (the reader), not read ahead into the page cache.
    assert report["loading"]["direct"] and report["loading"]["read"]["bytes"] == tensor_bytes
    assert "read_ahead_bytes" not in report["loading"]
    # Loaded in two halves (processing/loader.py): built empty before the prewarm started, filled while it ran.
    at = report["loading"]["at_s"]
    assert at["read_started"] <= at["imported"] <= at["read"]
    if unknown_key:
        assert report["loading"]["loader"] == "from_pretrained" and "filled" not in at
        assert "from_an_older_layout" in report["loading"]["loader_fallback"]
    else:
        assert report["loading"]["loader"] == "two halves" and "loader_fallback" not in report["loading"]
        assert at["imported"] <= at["built_empty"] <= at["prewarm_started"] <= at["read"] <= at["filled"]
        assert at["filled"] <= at["prewarm_done"]
    assert report["compile_cache"]["prewarm"]["new_graphs"] == 1


@pytest.mark.parametrize("unknown_key", [False, True], ids=["two-halves", "refused-then-from_pretrained"])
def test_build_pipeline_compiles_while_reading_then_loads_directly(tmp_path, unknown_key):
    """direct_load_flow in a spawned interpreter: after it (a prewarm thread, then a direct load,
    on CPU), the next torch.compile in the same interpreter crashed inside torch (a segfault in
    FakeTensorMode.__enter__'s CUDA device-guard stub, torch 2.9.1 and 2.11.0, CPU only), taking
    every later test with it."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=direct_load_flow, args=(str(tmp_path), unknown_key))
    child.start()
    child.join(900)
    assert child.exitcode == 0  # an assertion failing in the child prints its traceback above
