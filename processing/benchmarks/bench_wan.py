"""GPU benchmark of the Wan family: real-size Wan models with random weights, stock diffusers vs the job's speeds.

    python -m processing.benchmarks.bench --preset wan2.2-ti2v-5b --out bench-wan.json
    python -m processing.benchmarks.bench --preset wan2.1-t2v-1.3b --sections env,steps

(bench.py hands a Wan preset to this module.) Compute time does not depend on weight values, so
every model is built from its published config (below; nothing is downloaded) with seeded random
weights, made directly on the device. Sections (each skipped when --budget-s would be overrun):

  env    GPU, driver, torch/CUDA/diffusers/transformers versions
  steps  one transformer call of the preset's default job (CFG batch 2, 512 text tokens), median
         of --repeats after --warmup, CUDA events: stock, lossless (fused projections, the chosen
         attention kernel, regional compile: compile time = first call minus a steady step), and
         fast (lossless + fp8 matrix multiplies) where the GPU has fp8; relative difference vs
         stock and peak memory of each
  job    the whole job (python -m processing run) from process start to video.mp4, for each
         --job-speeds, with the random weights saved in the diffusers layout on local disk
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("processing.benchmarks.bench_wan")

GIB = 1024**3
SECTIONS = ("env", "steps", "job")

# Wan-AI/Wan2.2-TI2V-5B-Diffusers transformer/config.json
TRANSFORMER_TI2V_5B = {
    "patch_size": [1, 2, 2], "num_attention_heads": 24, "attention_head_dim": 128, "in_channels": 48,
    "out_channels": 48, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 14336, "num_layers": 30,
    "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": None,
    "added_kv_proj_dim": None, "rope_max_seq_len": 1024,
}
# Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json
TRANSFORMER_T2V_1_3B = {**TRANSFORMER_TI2V_5B, "num_attention_heads": 12, "in_channels": 16, "out_channels": 16,
                        "ffn_dim": 8960}
# Wan 2.2's VAE (4x16x16, 48 latent channels) and Wan 2.1's (4x8x8, 16 channels)
VAE_22 = {"base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
          "temperal_downsample": [False, True, True], "is_residual": True, "in_channels": 12, "out_channels": 12,
          "patch_size": 2, "scale_factor_temporal": 4, "scale_factor_spatial": 16,
          "latents_mean": [0.0] * 48, "latents_std": [1.0] * 48}
VAE_21 = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
          "temperal_downsample": [False, True, True]}
# google/umt5-xxl's encoder (the text encoder of every Wan model)
UMT5_XXL = {"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
            "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
            "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": True,
            "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}


@dataclass(frozen=True)
class Spec:
    preset: str
    transformer: dict | None  # None: tiny-random-wan, built by processing/families/wan.py
    vae: dict | None
    frames: int
    height: int
    width: int
    dtype: str
    spatial: int  # the VAE's spatial compression (8, or 16 for Wan 2.2)
    expand_timesteps: bool


SPECS = {
    "wan2.2-ti2v-5b": Spec("wan2.2-ti2v-5b", TRANSFORMER_TI2V_5B, VAE_22, 121, 704, 1280, "bfloat16", 16, True),
    "wan2.1-t2v-1.3b": Spec("wan2.1-t2v-1.3b", TRANSFORMER_T2V_1_3B, VAE_21, 81, 480, 832, "bfloat16", 8, False),
    "tiny-random-wan": Spec("tiny-random-wan", None, None, 9, 64, 96, "float32", 16, True),
}


def wanted(argv: list[str] | None) -> bool:
    """True when bench.py's command line names a Wan preset (bench.py then hands it over)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--preset=") else argv[i + 1] if arg == "--preset" and \
            i + 1 < len(argv) else None
        if value is not None:
            return value in SPECS
    return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m processing.benchmarks.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, choices=sorted(SPECS))
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--step-speeds", default="stock,lossless,fast", help="transformer variants in `steps`")
    parser.add_argument("--job-speeds", default="stock,lossless", help="whole-job runs, in order")
    parser.add_argument("--job-steps", type=int, default=50)
    from processing.benchmarks.bench import add_shared_options

    add_shared_options(parser)
    return parser.parse_args(argv)


# --- real-size models with random weights ----------------------------------------------------

def preset_of(spec: Spec):
    from processing.presets import load_presets

    return load_presets().get(spec.preset)


def build_components(spec: Spec, device: str) -> dict:
    """The pipeline's components: tiny from the family, else real-size from the configs above."""
    import torch

    from processing.benchmarks.bench import seeded_on, torch_dtype
    from processing.families import wan

    if spec.transformer is None:
        return {k: v.to(device) if hasattr(v, "to") and not isinstance(v, (bool, dict)) else v
                for k, v in wan.FAMILY.tiny_components(preset_of(spec), "t2v").items()}
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from processing.tiny import build_tokenizer

    dtype = torch_dtype(spec.dtype)
    with seeded_on(device, 0, dtype):
        transformer = WanTransformer3DModel(**spec.transformer).eval().requires_grad_(False)
    with seeded_on(device, 1, torch.float32):  # the job decodes in float32 (families/wan.py)
        vae = AutoencoderKLWan(**spec.vae).eval().requires_grad_(False)
    with seeded_on(device, 2, dtype):
        text_encoder = UMT5EncoderModel(UMT5Config(**UMT5_XXL)).eval().requires_grad_(False)
    return {"tokenizer": build_tokenizer(512), "text_encoder": text_encoder, "vae": vae, "transformer": transformer,
            "scheduler": UniPCMultistepScheduler(**wan.SCHEDULER_CONFIG), "expand_timesteps": spec.expand_timesteps}


def transformer_inputs(spec: Spec, transformer, device: str) -> dict:
    """One CFG step of the preset's default job, shaped as WanPipeline calls the transformer."""
    import torch

    config = transformer.config
    latent_frames = (spec.frames - 1) // 4 + 1
    h, w = spec.height // spec.spatial, spec.width // spec.spatial
    dtype = transformer.dtype
    # the same inputs for every variant: seeded, drawn on the CPU (a meta device only needs shapes)
    generator = torch.Generator().manual_seed(0)

    def draw(*shape):
        if str(device) == "meta":
            return torch.empty(*shape, device="meta", dtype=dtype)
        return torch.randn(*shape, generator=generator).to(device=device, dtype=dtype)

    hidden = draw(2, config.in_channels, latent_frames, h, w)
    text = draw(2, 512, config.text_dim)
    if spec.expand_timesteps:  # Wan 2.2 TI2V: one timestep per latent token
        tokens = latent_frames * (h // config.patch_size[1]) * (w // config.patch_size[2])
        timestep = torch.full((2, tokens), 999.0, device=device)
    else:
        timestep = torch.full((2,), 999.0, device=device)
    return {"hidden_states": hidden, "timestep": timestep, "encoder_hidden_states": text, "return_dict": False}


# --- the benchmark ------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace):
        import torch

        self.args = args
        self.spec = SPECS[args.preset]
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        self.started = time.perf_counter()
        self.results: dict = {"preset": args.preset, "device": self.device, "sections": {}, "skipped": {},
                              "errors": {}}

    def left_s(self) -> float:
        return self.args.budget_s - (time.perf_counter() - self.started)

    def run(self) -> dict:
        for section in [s.strip() for s in self.args.sections.split(",") if s.strip()]:
            if section not in SECTIONS:
                self.results["errors"][section] = f"unknown section; choose from {', '.join(SECTIONS)}"
                continue
            if self.left_s() <= 0:
                self.results["skipped"][section] = "time budget"
                continue
            try:
                self.results["sections"][section] = getattr(self, f"section_{section}")()
            except Exception as exc:  # one failed section still leaves the others' numbers
                log.exception("section %s failed", section)
                self.results["errors"][section] = f"{type(exc).__name__}: {exc}"[:2000]
            self.save()
        return self.results

    def save(self) -> None:
        if self.args.out is not None:
            self.args.out.write_text(json.dumps(self.results, indent=2, default=str) + "\n")

    def options(self, speed: str):
        from dataclasses import replace

        from processing import optimize

        options = optimize.options_for(speed, self.device, "none")
        if self.args.compile_backend is not None:
            options = replace(options, compile_blocks=True, compile_backend=self.args.compile_backend)
        return options

    def section_env(self) -> dict:
        import diffusers
        import torch
        import transformers

        env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
               "diffusers": diffusers.__version__, "transformers": transformers.__version__}
        if self.device == "cuda":
            env.update(gpu=torch.cuda.get_device_name(0), capability=list(torch.cuda.get_device_capability()),
                       total_gib=round(torch.cuda.get_device_properties(0).total_memory / GIB, 2),
                       cudnn=torch.backends.cudnn.version())
        return env

    # steps -----------------------------------------------------------------------------------

    def _time(self, call) -> tuple[float, list[float], object]:
        """(first call seconds, steady seconds per repeat, last output)."""
        import torch

        def timed():
            if self.device == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                out = call()
                end.record()
                torch.cuda.synchronize()
                return start.elapsed_time(end) / 1000, out
            began = time.perf_counter()
            out = call()
            return time.perf_counter() - began, out

        with torch.no_grad():
            first, out = timed()
            for _ in range(max(0, self.args.warmup - 1)):
                timed()
            steady = [timed()[0] for _ in range(self.args.repeats)]
            out = call()
        return first, steady, out

    def section_steps(self) -> dict:
        import torch

        from processing import optimize
        from processing.families import wan

        speeds = [s.strip() for s in self.args.step_speeds.split(",") if s.strip()]
        results: dict = {}
        reference = None
        for speed in speeds:
            if speed == "fast" and not (self.device == "cuda" and torch.cuda.get_device_capability() >= (8, 9)):
                results[speed] = {"skipped": "fp8 needs an sm89+ GPU"}
                continue
            components = build_components(self.spec, self.device)
            transformer = components["transformer"]
            del components
            inputs = transformer_inputs(self.spec, transformer, self.device)
            report = None
            if speed != "stock":
                holder = type("Holder", (), {"transformer": transformer, "scheduler": None})()
                report = optimize.apply(holder, self.options(speed), work_device=self.device, family=wan.FAMILY)
            if self.device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            first, steady, out = self._time(lambda: transformer(**inputs)[0])
            step = statistics.median(steady)
            entry = {"step_s": round(step, 4), "first_call_s": round(first, 3),
                     "compile_s": round(max(0.0, first - step), 2), "steady_s": [round(s, 4) for s in steady],
                     "peak_gib": round(torch.cuda.max_memory_allocated() / GIB, 2) if self.device == "cuda" else None,
                     "optimizations": report.to_json() if report is not None else None}
            out = out.float().cpu()
            if reference is None:
                reference = out
            else:
                entry["rel_diff_vs_stock"] = float((out - reference).norm() / reference.norm().clamp(min=1e-12))
            results[speed] = entry
            log.info("steps %s: %.4f s/step (first call %.2f s)", speed, step, first)
            del transformer, inputs
            torch._dynamo.reset()
            if self.device == "cuda":
                torch.cuda.empty_cache()
        if "stock" in results and "lossless" in results and "step_s" in results.get("lossless", {}):
            results["lossless_speedup"] = round(results["stock"]["step_s"] / results["lossless"]["step_s"], 3)
        return results

    # job -------------------------------------------------------------------------------------

    def section_job(self) -> dict:
        import torch

        from processing.families import wan

        work = self.args.work_dir or Path(tempfile.mkdtemp(prefix="bench-wan-"))
        models = work / "models"
        preset = preset_of(self.spec)
        results: dict = {}
        if self.spec.transformer is not None:  # a tiny preset is built in code by the job itself
            weights = models / self.spec.preset
            if not (weights / "model_index.json").is_file():
                began = time.perf_counter()
                components = build_components(self.spec, self.device)
                pipe = wan.FAMILY.pipeline_class(preset, "t2v")(**components)
                pipe.save_pretrained(weights)
                del pipe, components
                if self.device == "cuda":
                    torch.cuda.empty_cache()
                results["save_s"] = round(time.perf_counter() - began, 1)
        job_dir = work / "input"
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "job.json").write_text(json.dumps({
            "id": "bench-wan", "model": self.spec.preset, "prompt": "a fox running through snow", "seed": 1,
            "steps": self.args.job_steps}))
        for speed in [s.strip() for s in self.args.job_speeds.split(",") if s.strip()]:
            if self.left_s() <= 30:
                results[speed] = {"skipped": "time budget"}
                continue
            results[speed] = self._run_job(work, job_dir, models, speed, timeout=self.left_s() - 30)
            self.results["sections"]["job"] = results
            self.save()
        return results

    def _run_job(self, work: Path, job_dir: Path, models: Path, speed: str, timeout: float) -> dict:
        out = work / f"out-{speed}"
        shutil.rmtree(out, ignore_errors=True)
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(work / f"inductor-{speed}"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                          env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "processing", "run", "--input-dir", str(job_dir), "--output-dir", str(out),
                   "--models-dir", str(models), "--device", self.device, "--memory-plan", "none", "--speed", speed]
        began = time.perf_counter()
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=None if timeout == float("inf") else max(timeout, 1))
        except subprocess.TimeoutExpired:
            return {"exit_code": None, "error": "timed out"}
        entry: dict = {"exit_code": proc.returncode, "process_wall_s": round(time.perf_counter() - began, 2)}
        if proc.returncode == 0:
            metadata = json.loads((out / "metadata.json").read_text())
            entry.update(timings_s=metadata["timings_s"], output=metadata["output"],
                         peak_gib=round((metadata["runtime"]["peak_gpu_memory_bytes"] or 0) / GIB, 2),
                         optimizations=metadata["runtime"]["optimizations"], load_s=metadata["runtime"]["load_s"])
        else:
            entry["stderr_tail"] = proc.stderr[-3000:]
        log.info("job %s: exit %d in %.1f s", speed, proc.returncode, entry["process_wall_s"])
        return entry


def table(results: dict) -> str:
    lines = [f"{results['preset']} on {results['device']}"]
    steps = results["sections"].get("steps") or {}
    for speed, entry in steps.items():
        if isinstance(entry, dict) and "step_s" in entry:
            lines.append(f"step {speed:9s} {entry['step_s']:.4f} s  first {entry['first_call_s']:.2f} s  "
                         f"peak {entry['peak_gib']} GiB  diff {entry.get('rel_diff_vs_stock', 0):.2e}")
    for speed, entry in (results["sections"].get("job") or {}).items():
        if isinstance(entry, dict) and "exit_code" in entry:
            lines.append(f"job {speed:9s} exit {entry['exit_code']} wall {entry.get('process_wall_s')} s "
                         f"timings {entry.get('timings_s')} peak {entry.get('peak_gib')} GiB")
    for name, error in results["errors"].items():
        lines.append(f"error in {name}: {error[:200]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results = Bench(args).run()
    print(table(results), flush=True)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
