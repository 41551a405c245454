"""bench.py: its FLOP count against FlopCounterMode, and a whole run on CPU with tiny-random."""
from __future__ import annotations

import json

import pytest

from processing.benchmarks import bench


@pytest.mark.parametrize("preset, tokens, tflop", [("cogvideox-5b", 17776, 664.4), ("cogvideox1.5-5b", 45106, 2958.4)])
def test_flop_count_of_real_models_matches_flop_counter(preset, tokens, tflop):
    counted = bench.count_flops(bench.SPECS[preset])  # a meta-device forward: shapes only, no compute
    assert counted["tokens"] == tokens
    assert counted["total"] / 1e12 == pytest.approx(tflop, abs=0.1)
    assert counted["flop_counter_total"] == pytest.approx(counted["total"], rel=1e-6)


def test_padded_latent_frames_of_1_5():
    assert bench.latent_frames(bench.SPECS["cogvideox1.5-5b"], bench.TRANSFORMER_15) == (22, 1)
    assert bench.latent_frames(bench.SPECS["cogvideox-5b"], bench.TRANSFORMER_5B) == (13, 0)


def test_bench_runs_every_section_on_cpu(tmp_path):
    out = tmp_path / "bench.json"
    code = bench.main(["--preset", "tiny-random", "--denoise-steps", "3", "--plan-steps", "1", "--job-steps", "1",
                       "--job-speeds", "lossless-cold", "--work-dir", str(tmp_path / "work"), "--out", str(out)])
    results = json.loads(out.read_text())
    assert code == 0, results["errors"]
    sections = results["sections"]
    assert set(sections) == set(bench.SECTIONS)
    assert sections["flops"]["tokens"] == 226 + 3 * 4 * 6  # FlopCounterMode misses CPU attention: no check
    assert sections["steps"]["lossless"]["rel_diff_vs_stock"] < 1e-6
    assert sections["steps"]["stock"]["n"] == 5
    assert sections["denoise"]["fast"]["psnr_db_vs_lossless"] == float("inf")  # 3 steps: nothing is cached
    # The loop is timed after an untimed first step (a job's compile happens before its loop).
    assert sections["denoise"]["lossless"]["warmup_step_s"] > 0 and sections["denoise"]["lossless"]["steps"] == 3
    assert sections["plans"]["cpuGiB-none"]["fits"]
    assert sections["job"]["lossless-cold"]["exit_code"] == 0
    assert sections["job"]["lossless-cold"]["optimizations"]["speed"] == "lossless"
    # The latents drawn on the spot, the first step's one scheduler draw served from ahead.
    draws = sections["job"]["lossless-cold"]["noise_draws"]
    assert (draws["served"], draws["drawn"]) == (1, 1) and draws["waited"] in (0, 1)  # waited: the thread's timing


def test_the_table_lists_the_timed_steps_and_skips_the_checks_beside_them():
    step = {"median_s": 1.178, "tflops": 564, "first_call_s": 12.5, "peak_gib": 12.53, "denoise_50_est_s": 58.9}
    results = {"preset": "cogvideox-5b", "device": "cuda", "skipped": [], "errors": {}, "sections": {"steps": {
        "lossless": step, "gelu_epilogue": {}, "kernel_times": {"lossless": {"attention_ms": 634.0}}}}}
    text = bench.table(results)
    assert "step lossless       1.178 s" in text and "gelu_epilogue" not in text and "kernel_times" not in text


def test_bench_skips_what_the_budget_cannot_fit(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.Bench, "estimate", lambda self, section: 100.0 if section == "vae" else 0.0)
    out = tmp_path / "bench.json"
    assert bench.main(["--preset", "tiny-random", "--sections", "env,vae", "--budget-s", "50", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert "env" in results["sections"] and results["skipped"] == {"vae": "time budget"}


@pytest.mark.parametrize("name, free_gib, plan", [
    ("cogvideox-5b", 79.2, "none"), ("cogvideox-5b", 48, "none"), ("cogvideox-5b", 24, "model"),
    ("cogvideox-5b", 16, "model"), ("cogvideox-5b", 12, "sequential"),
    ("cogvideox1.5-5b", 79.2, "none"), ("cogvideox1.5-5b", 64, "model"), ("cogvideox1.5-5b", 48, "model"),
    ("cogvideox1.5-5b", 24, "model"), ("cogvideox1.5-5b", 16, "sequential"),
])
def test_automatic_memory_plan_fits_the_measured_peaks(name, free_gib, plan):
    from processing import pipeline
    from processing.presets import load_presets

    preset = load_presets().get(name)
    chosen = pipeline.choose_memory_plan("auto", "cuda", preset, free_gib)
    assert chosen == plan
    peaks = bench.MEASURED_PEAK_GIB[name]
    assert chosen == "sequential" or peaks[chosen] + 1 <= free_gib  # a GiB spare for the CUDA context


def test_bench_hands_a_wan_preset_to_the_wan_bench_and_runs_it_on_cpu(tmp_path):
    """`bench.py --preset wan2.2-ti2v-5b` runs bench_wan.py; at tiny size every section runs on CPU."""
    from processing.benchmarks import bench_wan

    assert bench_wan.wanted(["--preset", "wan2.2-ti2v-5b"]) and bench_wan.wanted(["--preset=wan2.1-t2v-1.3b"])
    assert not bench_wan.wanted(["--preset", "cogvideox-5b"]) and not bench_wan.wanted([])
    out = tmp_path / "bench-wan.json"
    code = bench.main(["--preset", "tiny-random-wan", "--repeats", "1", "--warmup", "1", "--job-steps", "1",
                       "--work-dir", str(tmp_path / "work"), "--out", str(out)])
    results = json.loads(out.read_text())
    assert code == 0, results["errors"]
    steps, jobs = results["sections"]["steps"], results["sections"]["job"]
    assert steps["lossless"]["rel_diff_vs_stock"] < 1e-5 and steps["lossless"]["optimizations"]["fused_qkv"] == 4
    assert steps["fast"] == {"skipped": "fp8 needs an sm89+ GPU"}
    assert [jobs[s]["exit_code"] for s in ("stock", "lossless")] == [0, 0]
    assert jobs["lossless"]["output"]["fps"] == 24 and jobs["lossless"]["optimizations"]["speed"] == "lossless"


def test_wan_bench_inputs_are_the_shape_the_pipeline_calls_with():
    """The step section times the call WanPipeline makes: latent grid, 512 text tokens, per-token timesteps on 2.2."""
    import torch

    from processing.benchmarks import bench_wan

    spec = bench_wan.SPECS["wan2.2-ti2v-5b"]
    config = type("C", (), {"in_channels": 48, "text_dim": 4096, "patch_size": [1, 2, 2]})
    transformer = type("T", (), {"config": config, "dtype": torch.bfloat16})
    inputs = bench_wan.transformer_inputs(spec, transformer, "meta")
    assert tuple(inputs["hidden_states"].shape) == (2, 48, 31, 44, 80)  # 121 frames, 704x1280 / 16
    assert tuple(inputs["timestep"].shape) == (2, 31 * 22 * 40)
    small = bench_wan.transformer_inputs(bench_wan.SPECS["wan2.1-t2v-1.3b"], transformer, "meta")
    assert tuple(small["hidden_states"].shape) == (2, 48, 21, 60, 104) and tuple(small["timestep"].shape) == (2,)


def test_compare_frames_reports_the_float_frames_distance(tmp_path):
    """1 vs 2 GPUs on the frames before H.264 (the job saves them where VIDEOBOT_BENCH_FRAMES says)."""
    import numpy as np

    a = np.full((2, 4, 4, 3), 0.5, dtype=np.float16)
    b = a.copy()
    b[0, 0, 0, 0] = 0.75
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    same = bench.compare_frames(tmp_path / "a.npy", tmp_path / "a.npy")
    assert same["rel_diff"] == 0 and same["max_abs_diff"] == 0 and same["psnr_db"] == float("inf")
    apart = bench.compare_frames(tmp_path / "a.npy", tmp_path / "b.npy")
    assert apart["max_abs_diff"] == 0.25
    assert apart["rel_diff"] == pytest.approx(0.25 / (0.5 * 96 ** 0.5), rel=1e-3)
    assert apart["psnr_db"] == pytest.approx(10 * np.log10(96 / 0.0625), rel=1e-3)
    assert "error" in bench.compare_frames(tmp_path / "a.npy", tmp_path / "missing.npy")


def test_a_job_saves_its_float_frames_only_when_the_bench_asks(tmp_path, monkeypatch):
    import numpy as np

    from processing import job as job_module

    frames = np.random.default_rng(0).random((3, 8, 8, 3), dtype=np.float32)
    settings_job = type("J", (), {"fps": 8})()
    progress = type("P", (), {"phase": lambda self, name: None})()
    monkeypatch.delenv(job_module.BENCH_FRAMES_ENV, raising=False)
    job_module.encode(frames, settings_job, tmp_path, progress)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poster.jpg", "video.mp4"]
    monkeypatch.setenv(job_module.BENCH_FRAMES_ENV, str(tmp_path / "frames.npy"))
    job_module.encode(frames, settings_job, tmp_path, progress)
    saved = np.load(tmp_path / "frames.npy")
    assert saved.dtype == np.float16 and saved.shape == frames.shape
    assert np.abs(saved.astype(np.float32) - frames).max() < 1e-3


def test_bench_resident_runs_only_the_series_asked_for(monkeypatch):
    from processing.benchmarks import bench_resident

    args = bench_resident.parse_args(["--modes", "resident", "--speed", "fast", "--device", "cuda"])
    assert "--speed" in bench_resident.flags(args) and "fast" in bench_resident.flags(args)
    ran = []
    monkeypatch.setattr(bench_resident, "resident_series", lambda root, a: ran.append("resident") or [])
    monkeypatch.setattr(bench_resident, "one_shot_series", lambda root, a: ran.append("one-shot") or [])
    assert bench_resident.main(["--modes", "resident", "--json"]) == 0
    assert ran == ["resident"]
    assert bench_resident.main(["--json"]) == 0
    assert ran == ["resident", "resident", "one-shot"]


def test_kernel_kinds_of_the_names_an_h200_profile_shows():
    names = {
        "kernel_cutlass_kernel_flash_attncuteflash_fwd_sm90FlashAttentionForwardSm90_object_at_": "attention",
        "nvjet_sm90_tst_192x192_64x4_2x1_v_bz_coopB_bias_TNN": "matmul",
        "nvjet_sm90_qqtst_128x128_128x6_2x1_v_bz_ovscale_bias_TNT": "matmul",
        "sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc": "matmul",
        "triton_poi_fused__to_copy_add_cat_mul_neg_slice_stack_unbind_unsqueeze_view_5": "fused elementwise",
        "triton_red_fused__scaled_mm__to_copy_abs_amax_clamp_div_gelu_t_view_10": "fused elementwise",
        "Memset (Device)": "memcpy/memset",
        "void at::native::vectorized_layer_norm_kernel<c10::BFloat16, float, false>": "other",
    }
    assert {name: bench.kernel_kind(name) for name in names} == names


def test_gelu_check_tells_the_tanh_form_from_the_erf_form():
    check = bench.gelu_epilogue_check("cpu")
    assert check["max_abs_vs_tanh"] < 1e-4 < check["max_abs_vs_erf"]


def test_noise_bench_runs_all_three_ways_on_cpu(capsys):
    from processing.benchmarks import noise_bench

    assert noise_bench.main(["--steps", "2", "--step-ms", "5"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in noise_bench.LATENTS:
        assert result[name]["draw_ms_bf16"] > 0 and all(result[name][f"step_ms_{how}"] > 0 for how in ("no_noise", "on_the_spot", "ahead"))


def test_ab_step_compares_an_option_both_ways_on_cpu(capsys):
    from processing.benchmarks import ab_step

    assert ab_step.main(["--preset", "tiny-random", "--option", "fuse_gelu", "--rounds", "2", "--repeats", "1",
                         "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(result["median_s_with"]) == len(result["median_s_without"]) == 2
    assert result["rel_diff"] < 1e-6  # on the CPU the fused op is the same maths


@pytest.mark.parametrize("mode", ["serial", "thread-fa4"])
def test_import_probe_marks_each_part_in_order(mode, capsys):
    from processing.benchmarks import import_probe

    assert import_probe.main([mode]) == 0  # in this process the imports are done already: only the order is checked
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["mode"] == mode
    assert 0 <= result["torch"] <= result["processing"] <= result["pipeline_imports"] <= result["fa4_import"]
    assert "cuda_s" in result["side"] and ("fa4_s" in result["side"]) == (mode == "thread-fa4")
    assert import_probe.main(["parallel"]) == 2


def test_reader_bench_reads_a_saved_pipeline_both_ways_on_cpu(tmp_path, capsys):
    from processing import pipeline
    from processing.benchmarks import reader_bench
    from processing.presets import load_presets

    pipeline.build_pipeline(load_presets().get("tiny-random"), "t2v", None, "cpu", "float32", "none") \
        .save_pretrained(tmp_path / "w")
    assert reader_bench.main([str(tmp_path / "w"), "--device", "cpu", "--repeats", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reader"]["bytes"] == out["safetensors"]["bytes"] > 0  # the same tensors, both ways
    assert out["reader"]["runs"][0]["seconds"] > 0


def test_the_image_package_set_hides_what_the_image_does_not_install(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(bench.__file__).parent / "image_packages"
    (tmp_path / "scipy").mkdir()  # a package the host has (here: a stand-in on the path)
    (tmp_path / "scipy" / "__init__.py").write_text("")
    code = ("import importlib.util as u; print(u.find_spec('scipy') is None, u.find_spec('numpy') is None)\n"
            "try:\n    import scipy\nexcept ModuleNotFoundError:\n    print('not-importable')")
    shown = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": f"{folder}:{tmp_path}"},
                           capture_output=True, text=True)
    assert shown.stdout.split() == ["True", "False", "not-importable"], shown.stderr
    plain = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(tmp_path)}, capture_output=True, text=True)
    assert plain.stdout.split() == ["False", "False"], plain.stderr  # found and imported without it


def test_schedule_job_runs_fast_with_the_schedule_given(tmp_path):
    from processing import optimize
    from processing.benchmarks import schedule_job

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "job.json").write_text(json.dumps({"id": "s", "model": "tiny-random", "prompt": "a fox",
                                                          "seed": 1, "frames": 9, "steps": 12}))
    default = optimize.FAST_STEP_CACHE
    try:
        assert schedule_job.main(["2", "2", "3", "--", "run", "--input-dir", str(tmp_path / "in"), "--output-dir",
                                  str(tmp_path / "out"), "--models-dir", str(tmp_path / "m"), "--device", "cpu",
                                  "--speed", "fast"]) == 0
    finally:
        optimize.FAST_STEP_CACHE = default
    cache = json.loads((tmp_path / "out" / "metadata.json").read_text())["runtime"]["optimizations"]["step_cache"]
    assert (cache["warmup"], cache["cooldown"], cache["interval"]) == (2, 2, 3)
    assert cache["computed_steps"] == 2 + 3 + 2 and cache["reused_steps"] == 5  # steps 0, 1, 2, 5, 8, 10, 11
    assert schedule_job.main(["6", "4"]) == 2
