"""The Wan family through the family seam: tiny-random-wan end to end on CPU (t2v and i2v, the real
WanPipeline / WanImageToVideoPipeline), its rules refused in one sentence, the speed options on its
transformer, and the presets that name it."""
from __future__ import annotations

import json

import pytest
import torch

from processing import families, optimize, pipeline
from processing.families import wan
from processing.presets import load_presets
from processing.tests.support import run_job
from processing.tests.test_end_to_end import check_outputs, check_progress_history, png_bytes

TINY_WAN = {"id": "j_wan", "model": "tiny-random-wan", "prompt": "a fox running through snow", "seed": 5,
            "frames": 9, "steps": 2}


@pytest.fixture(scope="module")
def t2v(tmp_path_factory):
    root = tmp_path_factory.mktemp("wan-t2v")
    (root / "input").mkdir()
    (root / "input" / "job.json").write_text(json.dumps({**TINY_WAN, "mode": "t2v"}))
    return run_job(root / "input", root / "out")


@pytest.fixture(scope="module")
def i2v(tmp_path_factory):
    root = tmp_path_factory.mktemp("wan-i2v")
    (root / "input").mkdir()
    (root / "input" / "job.json").write_text(json.dumps(
        {**TINY_WAN, "mode": "i2v", "image": "start.png", "frames": 13}))
    (root / "input" / "start.png").write_bytes(png_bytes())
    return run_job(root / "input", root / "out")


def test_wan_t2v_end_to_end(t2v):
    metadata = check_outputs(t2v, frames=9, fps=24)
    check_progress_history(t2v.progress, steps=2)
    model = metadata["model"]
    assert (model["preset"], model["family"], model["generation"]) == ("tiny-random-wan", "wan", "2.2")
    assert model["test_only"] is True and "test model" in model["label"]
    assert model["scheduler"] == "UniPCMultistepScheduler"
    # no negative prompt given: Wan's recommended one (presets.json) was used
    assert metadata["job"]["negative_prompt"] == load_presets().get("tiny-random-wan").negative_prompt != ""
    # lossless on CPU: the fused projections and our attention processor, on both attentions of each block
    assert metadata["runtime"]["optimizations"]["fused_qkv"] == 4


def test_wan_i2v_end_to_end(i2v):
    metadata = check_outputs(i2v, frames=13, fps=24)
    assert metadata["job"]["mode"] == "i2v" and metadata["job"]["image"] == "start.png"


@pytest.mark.parametrize("job, message", [
    ({"frames": 50}, "tiny-random-wan (test model: random weights, outputs noise) needs 4N+1 frames between 5 and 49 "
                     "(e.g. 9); got 50."),
    ({"model": "wan2.1-t2v-1.3b", "frames": 83}, "Wan2.1-T2V-1.3B needs 4N+1 frames between 5 and 81 (e.g. 81); got 83."),
    ({"model": "wan2.1-t2v-1.3b", "mode": "i2v", "image": "a.png"}, "Wan2.1-T2V-1.3B does not do i2v; it supports t2v."),
    ({"model": "wan2.2-ti2v-5b", "width": 720, "height": 480},
     "Wan2.2-TI2V-5B makes 1280x704 or 704x1280 video; got 720x480."),
])
def test_wan_rules_are_refused_in_one_sentence(job, message, job_dir, tmp_path):
    outcome = run_job(job_dir({**TINY_WAN, **job}), tmp_path / "out")
    assert outcome.exit_code == 2
    assert outcome.json("error.json") == {"code": "INVALID_JOB", "message": message, "retryable": False}


def test_wan_presets_follow_the_model_cards():
    presets = load_presets()
    ti2v, small = presets.get("wan2.2-ti2v-5b"), presets.get("wan2.1-t2v-1.3b")
    assert (ti2v.hf_id, ti2v.modes, ti2v.fps, ti2v.frames.default) == \
        ("Wan-AI/Wan2.2-TI2V-5B-Diffusers", ("t2v", "i2v"), 24, 121)
    assert set(ti2v.sizes) == {(704, 1280), (1280, 704)} and ti2v.family_options["expand_timesteps"] is True
    assert (small.hf_id, small.sizes, small.fps, small.frames.default) == \
        ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", ((480, 832),), 16, 81)
    assert all(p.frames.step == 4 and p.license == "Apache-2.0" and p.family == "wan"
               for p in (ti2v, small, presets.get("tiny-random-wan")))


def test_every_preset_names_a_family_module():
    assert families.names() == ["cogvideox", "wan"]
    for preset in load_presets().by_name.values():
        assert families.family_of(preset).name == preset.family


def test_an_unknown_family_is_refused_when_presets_load(tmp_path):
    raw = json.loads((pipeline.Path(__file__).parents[1] / "presets.json").read_text())
    raw["presets"]["tiny-random"]["family"] = "hunyuan"
    path = tmp_path / "presets.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="tiny-random's family 'hunyuan' is not one of cogvideox, wan"):
        load_presets(path)


@pytest.fixture(scope="module")
def tiny_wan():
    preset = load_presets().get("tiny-random-wan")

    def build():
        pipe = pipeline.load_components(preset, "t2v", None, torch.float32)
        wan.FAMILY.configure(pipe, preset)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return preset, build


def frames_of(pipe, preset, steps=2):
    return pipeline.generate(pipe, preset=preset, mode="t2v", prompt="a fox", negative_prompt="", seed=3,
                             frames=9, steps=steps, guidance=5.0, height=64, width=96, device="cpu")


def test_lossless_on_wan_matches_stock_and_frees_the_separate_projections(tiny_wan):
    preset, build = tiny_wan
    stock = frames_of(build(), preset)
    pipe = build()
    report = optimize.apply(pipe, optimize.Options(speed="lossless", fuse_qkv=True))
    block = pipe.transformer.blocks[0]
    assert report.fused_qkv == 4 and block.attn1.to_q is None and block.attn2.to_k is None
    assert isinstance(block.attn1.processor, wan.WanAttnProcessor)
    assert torch.allclose(torch.from_numpy(frames_of(pipe, preset)), torch.from_numpy(stock), atol=1e-5)


def test_wan_blocks_compile_whole_into_one_graph(tiny_wan):
    from torch._dynamo.testing import CompileCounter

    preset, build = tiny_wan
    stock = frames_of(build(), preset)
    counter = CompileCounter()
    torch._dynamo.reset()
    pipe = build()
    report = optimize.apply(pipe, optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True,
                                                   compile_backend=counter))
    out = frames_of(pipe, preset)
    # fullgraph=True raises on a graph break; one frame: every block of every step reuses one graph
    assert report.compiled_blocks == 2 and report.compile_fallback.error is None
    assert counter.frame_count == 1
    assert torch.allclose(torch.from_numpy(out), torch.from_numpy(stock), atol=1e-5)
    torch._dynamo.reset()


def test_fast_on_wan_has_no_step_cache(tiny_wan):
    preset, build = tiny_wan
    report = optimize.apply(build(), optimize.Options(speed="fast", fuse_qkv=True,
                                                      step_cache=optimize.FAST_STEP_CACHE))
    assert report.to_json()["step_cache"] is None  # CogVideoX's two-stream cache does not fit Wan's blocks


def test_staging_a_wan_preset_adds_no_compile_cache(tmp_path):
    """Wan has no one-block stand-in (Wan.prewarm is False): `stage` downloads its weights and leaves the
    compile to the first job, which saves the compile cache beside them."""
    from processing import stage

    weights = tmp_path / "wan2.2-ti2v-5b"
    (weights / "transformer").mkdir(parents=True)
    (weights / "transformer" / "config.json").write_text("{}")
    plans = [("lossless", optimize.Options(speed="lossless", fuse_qkv=True, compile_blocks=True))]
    assert stage.stage_compile_cache(load_presets().get("wan2.2-ti2v-5b"), weights, device="cpu", plans=plans) == []
    assert not (weights / "compile-cache").exists()


@pytest.mark.parametrize("name, measured_peak_gib, on_24_gib", [("wan2.2-ti2v-5b", 43.77, "sequential"),
                                                                 ("wan2.1-t2v-1.3b", 22.59, "model")])
def test_everything_resident_is_chosen_only_where_the_measured_job_fits(name, measured_peak_gib, on_24_gib):
    """Peaks of the whole lossless job on an H200 (docs/performance.md, Wan): `auto` keeps every component on
    the GPU only with more free memory than that; the 1.3B job's peak (UMT5-XXL and the float32 VAE decode)
    is far above the 8 GiB its model offload needs, so a 24 GiB card offloads instead of running out."""
    preset = load_presets().get(name)
    assert pipeline.resident_gib(preset) > measured_peak_gib
    assert pipeline.choose_memory_plan("auto", "cuda", preset, measured_peak_gib) == "model"
    assert pipeline.choose_memory_plan("auto", "cuda", preset, 23.0) == on_24_gib  # a 24 GiB card's free memory
