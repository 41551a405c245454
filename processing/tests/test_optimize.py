"""optimize.py on CPU with tiny-random: lossless matches stock, compiled blocks trace whole, fp8 and step cache behave."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from processing import cli, optimize, pipeline, stage, tiny
from processing.families import cogvideox
from processing.benchmarks import bench
from processing.job import warm_shape_for
from processing.validation import validate_job
from processing.presets import load_presets
from processing.tests.support import run_job

TINY = bench.SPECS["tiny-random"]


@pytest.fixture(scope="module")
def stock():
    """A tiny pipeline in float32 and one CFG step's inputs, with the stock transformer output."""
    pipe = bench.make_pipeline(TINY, bench.build_transformer(TINY, "cpu"), bench.build_vae(TINY, "cpu"))
    inputs = bench.transformer_inputs(TINY, pipe, "cpu")
    with torch.no_grad():
        reference = pipe.transformer(**inputs)[0]
    return pipe, inputs, reference


def optimised(stock, options: optimize.Options):
    pipe, inputs, reference = stock
    copy_ = bench.make_pipeline(TINY, copy.deepcopy(pipe.transformer), pipe.vae)
    report = optimize.apply(copy_, options)
    with torch.no_grad():
        out = copy_.transformer(**inputs)[0]
    return copy_, report, out, reference


def test_speeds_are_the_cli_choices():
    assert optimize.SPEEDS == cli.SPEEDS
    assert cli.parse_args(["run"]).speed == "lossless"
    assert cli.parse_args(["run", "--speed", "fast"]).speed == "fast"
    with pytest.raises(SystemExit):
        cli.parse_args(["run", "--speed", "ludicrous"])


def test_options_on_cpu_only_fuse_and_cache():
    assert optimize.options_for("stock", "cpu") == optimize.Options(speed="stock")
    lossless = optimize.options_for("lossless", "cpu")
    assert lossless.fuse_qkv and not lossless.compile_blocks and not lossless.fp8 and lossless.step_cache is None
    assert lossless.fuse_gelu
    fast = optimize.options_for("fast", "cpu")
    assert fast.step_cache == optimize.FAST_STEP_CACHE and not fast.fp8 and not fast.compile_blocks
    assert fast.fuse_gelu  # no fp8 here, so nothing else fuses the GELU
    with pytest.raises(ValueError):
        optimize.options_for("ludicrous", "cpu")


@pytest.mark.parametrize("capability, plan, compiled, fp8, attention", [
    ((9, 0), "none", True, True, "cudnn"),
    ((9, 0), "model", True, True, "cudnn"),
    ((9, 0), "sequential", False, False, "cudnn"),
    ((8, 0), "none", True, False, "default"),
])
def test_options_on_gpus(monkeypatch, capability, plan, compiled, fp8, attention):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: capability)
    lossless = optimize.options_for("lossless", "cuda", plan)
    assert (lossless.compile_blocks, lossless.fp8, lossless.attention) == (compiled, False, attention)
    # Not under sequential offload: the fused op reads the Linear's weight, which the offload hook brings in.
    assert lossless.fuse_gelu == (plan != "sequential")
    fast = optimize.options_for("fast", "cuda", plan)
    assert (fast.compile_blocks, fast.fp8, fast.step_cache) == (compiled, fp8, optimize.FAST_STEP_CACHE)
    # Under fp8 the GELU stays with the quantisation of the next matmul's input.
    assert fast.fuse_gelu == (plan != "sequential" and not fp8)


def test_fast_schedule_computes_18_of_50_steps():
    schedule = optimize.FAST_STEP_CACHE
    assert schedule.computed_steps(50) == 18
    assert all(schedule.computes(k, 50) for k in [*range(6), *range(46, 50)])
    assert [k for k in range(6, 46) if schedule.computes(k, 50)] == list(range(6, 46, 5))
    assert schedule.computed_steps(8) == 8  # short runs are never cached


def test_lossless_matches_stock_and_frees_the_separate_projections(stock):
    pipe, report, out, reference = optimised(stock, optimize.Options(speed="lossless", fuse_qkv=True))
    assert bench.relative_difference(out, reference) < 1e-6
    assert report.fused_qkv == len(pipe.transformer.transformer_blocks) == 2
    attn = pipe.transformer.transformer_blocks[0].attn1
    assert attn.to_q is None and attn.to_qkv.out_features == 3 * attn.inner_dim
    assert isinstance(attn.processor, cogvideox.CogVideoXAttnProcessor)


def test_compiled_blocks_trace_whole_and_share_one_graph(stock):
    from torch._dynamo.testing import CompileCounter

    counter = CompileCounter()
    torch._dynamo.reset()
    options = optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True, compile_backend=counter)
    pipe, report, out, reference = optimised(stock, options)
    assert bench.relative_difference(out, reference) < 1e-6
    assert report.compiled_blocks == 2
    # fullgraph=True raises on any graph break; one frame means block 0 reuses the others' graph.
    assert counter.frame_count == 1
    with torch.no_grad():
        pipe.transformer(**stock[1])
    assert counter.frame_count == 1
    torch._dynamo.reset()


def test_gelu_in_the_matmul_matches_stock_and_keeps_the_weights_names(stock):
    pipe, report, out, reference = optimised(stock, optimize.Options(speed="lossless", fuse_gelu=True))
    assert bench.relative_difference(out, reference) < 1e-6
    assert report.fused_gelu == 2 and report.to_json()["fused_gelu"] == 2
    ff = pipe.transformer.transformer_blocks[0].ff
    assert isinstance(ff.net[0], optimize.LinearGelu)
    # Same parameters under the same names: weights load into a fused model as into a stock one.
    assert pipe.transformer.state_dict().keys() == stock[0].transformer.state_dict().keys()
    assert optimize.fuse_gelu(pipe.transformer.transformer_blocks[0]) == 0  # already fused


def test_linear_gelu_op_is_tanh_gelu_and_registered_right():
    torch.manual_seed(0)
    x, weight, bias = torch.randn(3, 5, 16) * 2, torch.randn(24, 16) / 4, torch.randn(24)
    out = optimize.linear_gelu_tanh(x, weight, bias)
    exact = torch.nn.functional.gelu(torch.nn.functional.linear(x, weight, bias), approximate="tanh")
    assert out.shape == (3, 5, 24) and torch.equal(out, exact)
    erf = torch.nn.functional.gelu(torch.nn.functional.linear(x, weight, bias))
    assert (out - erf).abs().max() > 1e-4  # the tanh form, as the model was trained with
    torch.library.opcheck(optimize.linear_gelu_tanh, (x, weight, bias))


def test_fp8_after_the_gelu_fusion_runs_the_gelu_on_its_own():
    from diffusers.models.activations import GELU

    torch.manual_seed(0)
    gelu = GELU(64, 2048, approximate="tanh")
    fused = optimize.LinearGelu(copy.deepcopy(gelu))
    holder = torch.nn.Sequential(fused)
    assert optimize.to_fp8(holder, min_features=64) == 1
    x = torch.randn(4, 64)
    assert 1e-4 < bench.relative_difference(holder(x), gelu(x)) < 0.06


def test_fp8_linear_is_close_and_only_replaces_big_matmuls():
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 512)
    x = torch.randn(64, 256)
    fp8 = optimize.Fp8Linear(linear)
    assert fp8.weight_fp8.dtype == torch.float8_e4m3fn and fp8.weight_scale.shape == (1, 512)
    error = bench.relative_difference(fp8(x), linear(x))
    assert 1e-4 < error < 0.06  # lossy, by about e4m3's 3 mantissa bits

    block = copy.deepcopy(bench.build_transformer(TINY, "cpu").transformer_blocks[0])
    assert optimize.to_fp8(block, min_features=1024) == 0
    swapped = optimize.to_fp8(block, min_features=16)
    assert swapped == 6  # q, k, v, out, and the two feed-forward matmuls
    assert isinstance(block.norm1.linear, torch.nn.Linear)


def test_step_cache_reuses_residuals_on_its_schedule():
    from diffusers import CogVideoXPipeline

    schedule = optimize.StepCacheSchedule(warmup=1, cooldown=1, interval=2)
    lossless = CogVideoXPipeline(**cogvideox.build_components("t2v", bench.TEXT_TOKENS))
    fast = CogVideoXPipeline(**cogvideox.build_components("t2v", bench.TEXT_TOKENS))
    optimize.apply(lossless, optimize.Options(speed="lossless", fuse_qkv=True))
    report = optimize.apply(fast, optimize.Options(speed="fast", fuse_qkv=True, step_cache=schedule))
    preset = load_presets().get("tiny-random")

    def frames(p, steps):
        return pipeline.generate(p, preset=preset, mode="t2v", prompt="cache", negative_prompt="", seed=1,
                                 frames=9, steps=steps, guidance=6.0, height=64, width=96, device="cpu")

    cached, exact = frames(fast, 6), frames(lossless, 6)
    state = report.to_json()["step_cache"]
    assert (state["computed_steps"], state["reused_steps"]) == (4, 2)  # steps 0, 1, 3, 5 computed
    assert cached.shape == exact.shape and not (cached == exact).all()
    assert bench.psnr(torch.from_numpy(cached), torch.from_numpy(exact)) > 10
    frames(fast, 6)  # a second run starts counting again (timesteps rise)
    assert report.to_json()["step_cache"]["computed_steps"] == 8
    assert list(fast.transformer.state_dict()) == list(lossless.transformer.state_dict())


def test_compile_cache_saves_once_then_loads(tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", lambda: (b"kernels", None))
    monkeypatch.setattr(torch.compiler, "load_cache_artifacts", loaded.append)
    inputs = {"hidden_states": torch.zeros(2, 3, 4, 8, 12)}

    first = optimize.CompileCacheState(cache_dir=tmp_path / "cache", label="tiny-random-lossless")
    hooks = optimize.CompileCache(first)
    hooks.before_forward(None, (), inputs)
    hooks.after_forward(None, (), inputs, "out")
    assert first.saved and not first.loaded and first.first_call_s is not None
    assert first.file.endswith("2x3x4x8x12.bin") and Path(first.file).read_bytes() == b"kernels"

    second = optimize.CompileCacheState(cache_dir=tmp_path / "cache", label="tiny-random-lossless")
    hooks = optimize.CompileCache(second)
    hooks.before_forward(None, (), inputs)
    hooks.after_forward(None, (), inputs, "out")
    hooks.before_forward(None, (), inputs)  # later calls do nothing
    assert loaded == [b"kernels"] and second.loaded and not second.saved


def prewarm_setup():
    """A compile counter, lossless options that compile with it and prewarm, the tiny preset, a
    real tiny pipeline, and the call shape a tiny job makes."""
    from diffusers import CogVideoXPipeline
    from torch._dynamo.testing import CompileCounter

    counter = CompileCounter()
    torch._dynamo.reset()
    options = optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True, compile_backend=counter,
                               prewarm=True)
    preset = load_presets().get("tiny-random")
    real = CogVideoXPipeline(**cogvideox.build_components("t2v", preset.max_text_tokens))
    shape = optimize.WarmShape(batch=2, frames=9, height=64, width=96, text_tokens=preset.max_text_tokens)
    return counter, options, preset, real, shape


def test_prewarm_compiles_on_a_stand_in_and_the_real_model_reuses_its_graph(tmp_path, monkeypatch):
    """The stand-in's one block makes the graph all real blocks hit: no compile on the first real call."""
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", lambda: (b"kernels", None))
    counter, options, preset, real, shape = prewarm_setup()
    prewarm = optimize.Prewarm(dict(real.transformer.config), options, shape, dtype=torch.float32, device="cpu",
                               compile_cache_dir=tmp_path, label="tiny-random")
    result = prewarm.start().wait()
    assert result.error is None and result.new_graphs == 1 and counter.frame_count == 1
    assert result.cache_saved and result.cache_file.endswith("2x3x4x8x12.bin")

    report = optimize.apply(real, options, compile_cache_dir=tmp_path, label="tiny-random", prewarm=prewarm)
    pipeline.generate(real, preset=preset, mode="t2v", prompt="warm", negative_prompt="", seed=1, frames=9,
                      steps=2, guidance=6.0, height=64, width=96, device="cpu")
    state = report.to_json()["compile_cache"]
    assert counter.frame_count == 1 and state["first_call_new_graphs"] == 0
    assert state["saved"] and state["prewarm"]["error"] is None
    torch._dynamo.reset()


@pytest.mark.parametrize("config, height, width, latent_frames", [
    (bench.TRANSFORMER_5B, 480, 720, 13),
    (bench.TRANSFORMER_15, 768, 1360, 22),  # patch_size_t = 2: RoPE over frame pairs
])
def test_rotary_stand_in_is_laid_out_like_the_pipelines_tables(config, height, width, latent_frames):
    """Compiled graphs are guarded on shape, dtype and strides: the stand-in's RoPE tables must match."""
    from types import SimpleNamespace

    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    config = SimpleNamespace(**{"patch_size_t": None, **config})
    owner = SimpleNamespace(vae_scale_factor_spatial=8, transformer=SimpleNamespace(config=config))
    made = cogvideox.rotary_stand_in(config, height, width, latent_frames, "cpu")
    for cls in (CogVideoXPipeline, CogVideoXImageToVideoPipeline):
        real = cls._prepare_rotary_positional_embeddings(owner, height, width, latent_frames, torch.device("cpu"))
        for ours, theirs in zip(made, real):
            assert (ours.shape, ours.dtype, ours.stride(), ours.device) == \
                (theirs.shape, theirs.dtype, theirs.stride(), theirs.device)


def test_a_failed_prewarm_leaves_the_compile_to_the_first_call(monkeypatch):
    counter, options, preset, real, shape = prewarm_setup()

    def out_of_memory(_self):
        raise torch.cuda.OutOfMemoryError("no room for the stand-in")

    monkeypatch.setattr(optimize.Prewarm, "_stand_in", out_of_memory)
    prewarm = optimize.Prewarm(dict(real.transformer.config), options, shape, dtype=torch.float32, device="cpu").start()
    report = optimize.apply(real, options, prewarm=prewarm)
    frames = pipeline.generate(real, preset=preset, mode="t2v", prompt="cold", negative_prompt="", seed=1,
                               frames=9, steps=2, guidance=6.0, height=64, width=96, device="cpu")
    state = report.to_json()["compile_cache"]
    assert frames.shape == (9, 64, 96, 3) and counter.frame_count == 1
    assert "no room for the stand-in" in state["prewarm"]["error"] and state["first_call_new_graphs"] == 1
    torch._dynamo.reset()


def test_compile_cache_in_an_unwritable_place_only_logs(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", lambda: (b"kernels", None))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    state = optimize.CompileCacheState(cache_dir=blocker / "cache", label="x")
    hooks = optimize.CompileCache(state)
    inputs = {"hidden_states": torch.zeros(1)}
    hooks.before_forward(None, (), inputs)
    assert hooks.after_forward(None, (), inputs, "out") == "out"
    assert not state.saved


def test_job_records_the_speed_it_ran(job_dir, tmp_path):
    outcome = run_job(job_dir({"model": "tiny-random", "prompt": "fast", "steps": 2, "seed": 1}),
                      tmp_path / "out", "--speed", "fast")
    assert outcome.exit_code == 0
    runtime = json.loads((tmp_path / "out" / "metadata.json").read_text())["runtime"]
    assert runtime["speed"] == "fast"
    assert runtime["optimizations"]["fused_qkv"] == 2
    assert runtime["optimizations"]["step_cache"]["computed_steps"] == 2  # too short to skip any


def test_tiny_tokenizer_is_what_bench_saves_for_real_presets():
    # bench.py saves the real presets with tiny's byte-level tokenizer: ids must fit T5's vocabulary.
    tokenizer = tiny.build_tokenizer(bench.TEXT_TOKENS)
    ids = tokenizer("a red fox in the snow", padding="max_length", max_length=bench.TEXT_TOKENS)["input_ids"]
    assert len(ids) == bench.TEXT_TOKENS and max(ids) < bench.T5_XXL["vocab_size"]


# --- a compile that fails costs speed, never the job ----------------------------------------------

class NoCompiler:
    """A torch.compile backend that fails as Inductor does in an image without a C compiler."""

    def __init__(self):
        self.calls = 0

    def __call__(self, graph_module, example_inputs):
        self.calls += 1
        raise RuntimeError("Failed to find C compiler. Please specify via CC environment variable.")


def test_a_failed_compile_runs_the_blocks_eagerly_and_says_so(stock, caplog):
    backend = NoCompiler()
    torch._dynamo.reset()
    options = optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True, compile_backend=backend)
    with caplog.at_level("WARNING", logger="processing.optimize"):
        _, report, out, _ = optimised(stock, options)
    eager = optimised(stock, optimize.Options(speed="lossless", fuse_qkv=True))[2]
    assert torch.equal(out, eager)  # the eager blocks ran: same output as uncompiled lossless
    fallback = report.to_json()["compile_fallback"]
    assert fallback["where"] == "first call" and "Failed to find C compiler" in fallback["error"]
    assert "\n" not in fallback["error"] and "TORCHDYNAMO_VERBOSE" not in fallback["error"]  # one readable line
    assert backend.calls == 1  # tried once; the other block and later calls go straight to eager
    assert "torch.compile failed" in caplog.text and "runs eagerly" in caplog.text
    torch._dynamo.reset()


def test_inductor_without_its_compiler_falls_back(stock, monkeypatch):
    """The real Inductor, pointed at a C++ compiler that does not exist (what a `-runtime` image has)."""
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", (None, "/nonexistent/bin/g++"))
    monkeypatch.setenv("CC", "/nonexistent/bin/gcc")
    torch._dynamo.reset()
    options = optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True, compile_backend="inductor")
    _, report, out, _ = optimised(stock, options)
    eager = optimised(stock, optimize.Options(speed="lossless", fuse_qkv=True))[2]
    assert torch.equal(out, eager)
    assert report.to_json()["compile_fallback"]["where"] == "first call"
    torch._dynamo.reset()


def test_out_of_memory_while_compiled_is_not_a_compile_failure(stock):
    def out_of_memory(graph_module, example_inputs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    torch._dynamo.reset()
    options = optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True, compile_backend=out_of_memory)
    with pytest.raises(RuntimeError, match="out of memory"):  # job.py turns this into GPU_OUT_OF_MEMORY
        optimised(stock, options)
    torch._dynamo.reset()


def test_a_compile_that_failed_in_the_prewarm_is_not_tried_again(tmp_path):
    _, options, preset, real, shape = prewarm_setup()
    backend = NoCompiler()
    options = replace_options(options, compile_backend=backend)
    prewarm = optimize.Prewarm(dict(real.transformer.config), options, shape, dtype=torch.float32, device="cpu",
                               compile_cache_dir=tmp_path, label="tiny-random").start()
    report = optimize.apply(real, options, compile_cache_dir=tmp_path, label="tiny-random", prewarm=prewarm)
    frames = pipeline.generate(real, preset=preset, mode="t2v", prompt="eager", negative_prompt="", seed=1,
                               frames=9, steps=2, guidance=6.0, height=64, width=96, device="cpu")
    state = report.to_json()
    assert frames.shape == (9, 64, 96, 3) and backend.calls == 1  # the stand-in's try only
    assert state["compile_fallback"]["where"] == "prewarm"
    assert "Failed to find C compiler" in state["compile_cache"]["prewarm"]["compile_error"]
    assert not state["compile_cache"]["saved"] and not list(tmp_path.iterdir())  # nothing compiled to keep
    torch._dynamo.reset()


def replace_options(options, **changes):
    import dataclasses

    return dataclasses.replace(options, **changes)


def test_a_job_whose_compile_fails_still_makes_its_video(job_dir, tmp_path, monkeypatch, capsys):
    """The job on a GPU compiles; here the compile is forced on CPU and fails as without a compiler."""
    backend = NoCompiler()
    chosen = optimize.options_for
    monkeypatch.setattr(optimize, "options_for", lambda speed, device, plan="none": replace_options(
        chosen(speed, device, plan), compile_blocks=True, compile_backend=backend))
    torch._dynamo.reset()
    outcome = run_job(job_dir({"model": "tiny-random", "prompt": "no compiler", "steps": 2, "seed": 1}),
                      tmp_path / "out")
    assert outcome.exit_code == 0 and (tmp_path / "out" / "video.mp4").is_file()
    optimizations = outcome.json("metadata.json")["runtime"]["optimizations"]
    assert optimizations["compiled_blocks"] == 2
    assert "Failed to find C compiler" in optimizations["compile_fallback"]["error"]
    assert "WARNING processing.optimize: torch.compile failed" in capsys.readouterr().err  # the job's log
    torch._dynamo.reset()


# --- the compile cache travels with the staged weights -------------------------------------------

def test_the_compile_cache_lives_in_the_presets_weights_folder(tmp_path):
    """The S3 model cache mounts <uri><preset>/ at <models-dir>/<preset>/: a file there reaches every job."""
    assert optimize.compile_cache_dir(tmp_path, "cogvideox-5b") == tmp_path / "cogvideox-5b" / "compile-cache"


@pytest.mark.parametrize("model", ["cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b"])
def test_staging_compiles_the_shape_of_the_default_job(model, job_dir):
    """The staged file is only loaded if its name (GPU, torch, call shape) is the one the job looks for."""
    presets = load_presets()
    preset = presets.get(model)
    staged, _ = validate_job({"model": model, "prompt": "compile cache", "image": "image.png"}, job_dir({}),
                                 presets)
    default, _ = validate_job({"model": model, "prompt": "a user's prompt", "image": "photo.jpg", "seed": 3},
                                  job_dir({}), presets)
    assert warm_shape_for(staged, preset) == warm_shape_for(default, preset)


def test_nothing_compiles_on_cpu_so_staging_there_writes_no_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert stage.compile_cache_plans("cpu") == []
    assert stage.stage_compile_cache(load_presets().get("tiny-random"), tmp_path / "tiny-random") == []
    assert not (tmp_path / "tiny-random" / "compile-cache").exists()


def test_compile_cache_plans_on_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: (9, 0))
    assert [speed for speed, options in stage.compile_cache_plans("cuda")] == ["lossless", "fast"]


def test_staged_compile_cache_is_the_file_a_job_loads(tmp_path, monkeypatch):
    """`stage` compiles on the preset's saved config into <models>/<preset>/compile-cache/; a job of
    that preset with default settings then finds that file before its first transformer call."""
    monkeypatch.setattr(torch.compiler, "save_cache_artifacts", lambda: (b"kernels", None))
    loaded = []
    monkeypatch.setattr(torch.compiler, "load_cache_artifacts", loaded.append)
    counter, options, preset, real, _ = prewarm_setup()
    weights = tmp_path / "models" / preset.name
    real.save_pretrained(weights)
    results = stage.stage_compile_cache(preset, weights, device="cpu", plans=[("lossless", options)])
    files = list((weights / "compile-cache").iterdir())
    assert [r["cache_saved"] for r in results] == [True] and len(files) == 1 and counter.frame_count == 1

    default, _ = validate_job({"model": preset.name, "prompt": "later job"}, tmp_path, load_presets())
    shape = warm_shape_for(default, preset)
    prewarm = optimize.Prewarm(dict(real.transformer.config), options, shape, dtype=torch.float32, device="cpu",
                               compile_cache_dir=optimize.compile_cache_dir(tmp_path / "models", preset.name),
                               label=preset.name).start()
    result = prewarm.wait()
    assert result.cache_loaded and result.cache_file == str(files[0]) and loaded == [b"kernels"]
    torch._dynamo.reset()
