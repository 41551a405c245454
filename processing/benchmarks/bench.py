"""GPU benchmark: real-size CogVideoX models with random weights, stock diffusers vs the job's speed modes.

    python -m processing.benchmarks.bench --preset cogvideox-5b --out bench.json

Compute time does not depend on weight values, so every model is built from its published
config.json (hard-coded below; nothing is downloaded) with seeded random bf16 weights, made
directly on the GPU. Sections (each skipped when --budget-s would be overrun):

  env       GPU, driver, torch/CUDA/cuDNN/diffusers/transformers versions
  flops     analytical FLOP count of one transformer step (CFG batch 2), checked by FlopCounterMode
  attention SDPA backends and FlashAttention-4 (where it imports) at the model's attention shape
  linear    bf16 vs fp8 matrix multiply at the feed-forward shape
  steps     per-step transformer time, median of --repeats after --warmup, CUDA events:
            stock, lossless (compile time = first call minus a steady step), lossless with cuDNN
            attention where lossless runs FlashAttention-4, fast (fp8) per step;
            relative difference of lossless and fp8 outputs vs stock
  denoise   the real pipeline loop (--denoise-steps), lossless and fast (fp8 + step cache);
            then VAE decode; PSNR of fast frames vs lossless frames
  vae       VAE decode time and peak memory: plain, cudnn.benchmark, tiled
  plans     memory plans under 24/48/80 GiB caps (torch.cuda.set_per_process_memory_fraction),
            T5 encode + a few steps + decode, peak memory and time each
  job       the whole job (python -m processing run) from process start to video.mp4, for
            each --job-speeds, with the random weights saved in the diffusers layout on local disk
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
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

log = logging.getLogger("processing.benchmarks.bench")

GIB = 1024**3
TEXT_TOKENS = 226
SECTIONS = ("env", "flops", "attention", "linear", "steps", "denoise", "vae", "plans", "job")

# THUDM/CogVideoX-5b transformer/config.json
TRANSFORMER_5B = {
    "activation_fn": "gelu-approximate", "attention_bias": True, "attention_head_dim": 64, "dropout": 0.0,
    "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 16, "max_text_seq_length": 226,
    "norm_elementwise_affine": True, "norm_eps": 1e-05, "num_attention_heads": 48, "num_layers": 42,
    "out_channels": 16, "patch_size": 2, "sample_frames": 49, "sample_height": 60, "sample_width": 90,
    "spatial_interpolation_scale": 1.875, "temporal_compression_ratio": 4, "temporal_interpolation_scale": 1.0,
    "text_embed_dim": 4096, "time_embed_dim": 512, "timestep_activation_fn": "silu",
    "use_rotary_positional_embeddings": True, "use_learned_positional_embeddings": False,
}
# THUDM/CogVideoX1.5-5B transformer/config.json
TRANSFORMER_15 = {
    **TRANSFORMER_5B, "patch_bias": False, "patch_size_t": 2, "sample_frames": 81, "sample_height": 300,
    "sample_width": 300,
}
# THUDM/CogVideoX-5b vae/config.json (1.5 adds invert_scale_latents)
VAE_5B = {
    "act_fn": "silu", "block_out_channels": [128, 256, 256, 512],
    "down_block_types": ["CogVideoXDownBlock3D"] * 4, "up_block_types": ["CogVideoXUpBlock3D"] * 4,
    "force_upcast": True, "in_channels": 3, "out_channels": 3, "latent_channels": 16, "layers_per_block": 3,
    "norm_eps": 1e-06, "norm_num_groups": 32, "sample_height": 480, "sample_width": 720, "scaling_factor": 0.7,
    "shift_factor": None, "temporal_compression_ratio": 4, "use_post_quant_conv": False, "use_quant_conv": False,
}
VAE_15 = {**VAE_5B, "invert_scale_latents": True}
# THUDM/CogVideoX-5b text_encoder/config.json (google/t5-v1_1-xxl encoder)
T5_XXL = {
    "vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-06, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False,
    "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
}


# Peak GPU memory (GiB) of T5 encode + denoising steps + VAE decode per memory plan, at the preset's
# default frames (lossless speed, H100 80GB, torch 2.11, 2026-11-21). 5b: measured by the `plans`
# section. 1.5: the sum of measured parts, not one run: `none` = T5-XXL and transformer weights
# (19.2 GiB, the sizes of the safetensors) + the plain VAE decode peak (45.0 GiB, `vae` section);
# `model` = the transformer step peak (16.17 GiB, `steps`), above the tiled decode (4.63 GiB).
# pipeline.choose_memory_plan's thresholds must keep each plan above its peak; tests/test_bench.py
# checks they do.
MEASURED_PEAK_GIB = {"cogvideox-5b": {"none": 34.47, "model": 12.08},
                     "cogvideox1.5-5b": {"none": 64.2, "model": 16.17}}


@dataclass(frozen=True)
class Spec:
    preset: str
    transformer: dict | None  # None: tiny-random, built by processing/families/cogvideox.py
    vae: dict | None
    text_encoder: dict | None
    frames: int
    height: int
    width: int
    dtype: str


SPECS = {
    "cogvideox-5b": Spec("cogvideox-5b", TRANSFORMER_5B, VAE_5B, T5_XXL, 49, 480, 720, "bfloat16"),
    "cogvideox1.5-5b": Spec("cogvideox1.5-5b", TRANSFORMER_15, VAE_15, T5_XXL, 81, 768, 1360, "bfloat16"),
    "tiny-random": Spec("tiny-random", None, None, None, 9, 64, 96, "float32"),
}


def add_shared_options(parser: argparse.ArgumentParser) -> None:
    """The options every family's benchmark takes (bench.py here, bench_wan.py for Wan)."""
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work-dir", type=Path, default=None, help="where the job's weights are saved")
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend for the lossless/fast blocks (default: inductor on CUDA, "
                             "off on CPU)")
    parser.add_argument("--budget-s", type=float, default=float("inf"),
                        help="skip a section that would end after this many seconds")
    parser.add_argument("--out", type=Path, default=None, help="JSON results, rewritten after every section")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m processing.benchmarks.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cogvideox-5b", choices=sorted(SPECS))
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    add_shared_options(parser)
    parser.add_argument("--denoise-steps", type=int, default=50)
    parser.add_argument("--denoise-speeds", default="lossless,fast",
                        help="pipeline loops to time in `denoise` (fast's PSNR needs lossless before it)")
    parser.add_argument("--plan-steps", type=int, default=2, help="denoising steps per memory-plan run")
    parser.add_argument("--plan-caps", default="80,48,24", help="GiB caps for the memory plans")
    parser.add_argument("--plan-kinds", default="none,model,sequential",
                        help="memory plans to try (model under 48 GiB and less, sequential under 24 GiB and less)")
    parser.add_argument("--job-speeds", default="lossless-cold,lossless-warm,lossless-warm@disk,stock@disk,fast",
                        help="whole-job runs, in order: SPEED[-cold|-warm|-staged][@disk]; -cold empties the "
                             "compile cache first, -warm makes sure it holds this speed's file, -staged empties "
                             "it and runs `processing stage --compile-cache-only` (as a GPU staging job would) "
                             "before the job, @disk drops the page cache first so the weights are read from disk "
                             "(else they are in memory)")
    parser.add_argument("--job-steps", type=int, default=50)
    parser.add_argument("--job-gpus", default="1",
                        help="comma-separated worker counts (the job's --gpus) to run each job with; a job on N > 1 "
                             "is named NAME-gpusN and compared with the same job on 1 (decoded MP4 frames)")
    parser.add_argument("--fp32-reference", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the transformer in float32 to size the bf16 error of every variant")
    return parser.parse_args(argv)


# --- building real-size models with random weights -----------------------------------------

def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


@contextlib.contextmanager
def seeded_on(device: str, seed: int, dtype):
    """Builds modules directly on `device` in `dtype`, seeded (same seed, same weights)."""
    import torch

    devices = [torch.cuda.current_device()] if device == "cuda" else []
    previous = torch.get_default_dtype()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):
                yield
        finally:
            torch.set_default_dtype(previous)


def build_transformer(spec: Spec, device: str, seed: int = 0):
    from diffusers import CogVideoXTransformer3DModel

    if spec.transformer is None:
        return tiny_components()["transformer"].to(device)
    with seeded_on(device, seed, torch_dtype(spec.dtype)):
        return CogVideoXTransformer3DModel(**spec.transformer).eval().requires_grad_(False)


def build_vae(spec: Spec, device: str, seed: int = 1):
    from diffusers import AutoencoderKLCogVideoX

    if spec.vae is None:
        return tiny_components()["vae"].to(device)
    with seeded_on(device, seed, torch_dtype(spec.dtype)):
        return AutoencoderKLCogVideoX(**spec.vae).eval().requires_grad_(False)


def build_text_encoder(spec: Spec, device: str, seed: int = 2):
    from transformers import T5Config, T5EncoderModel

    if spec.text_encoder is None:
        return tiny_components()["text_encoder"].to(device)
    with seeded_on(device, seed, torch_dtype(spec.dtype)):
        return T5EncoderModel(T5Config(**spec.text_encoder)).eval().requires_grad_(False)


def tiny_components() -> dict:
    from processing.families import cogvideox

    return cogvideox.build_components("t2v", TEXT_TOKENS)


def build_scheduler():
    from diffusers import CogVideoXDPMScheduler

    from processing.families import cogvideox

    return CogVideoXDPMScheduler(**cogvideox.SCHEDULER_CONFIG)


def make_pipeline(spec: Spec, transformer, vae, text_encoder=None, tokenizer=None):
    from diffusers import CogVideoXPipeline

    pipe = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                             scheduler=build_scheduler())
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --- shapes and FLOPs ----------------------------------------------------------------------

def latent_frames(spec: Spec, config) -> tuple[int, int]:
    """(latent frames the transformer sees, extra frames the pipeline pads for patch_size_t)."""
    from processing.families.cogvideox import latent_frame_count

    return latent_frame_count(spec.frames, config.get("temporal_compression_ratio", 4), config.get("patch_size_t"))


def transformer_flops(config: dict, spec: Spec, batch: int = 2) -> dict:
    """Multiply-adds x2 of one forward: the block matmuls, attention (QK^T and PV), embeddings."""
    p, p_t = config["patch_size"], config.get("patch_size_t") or 1
    frames, _ = latent_frames(spec, config)
    video_tokens = (frames // p_t) * (spec.height // 8 // p) * (spec.width // 8 // p)
    tokens = video_tokens + TEXT_TOKENS
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    ff = 4 * dim
    layers = config["num_layers"]
    linear = 2 * batch * tokens * (4 * dim * dim + 2 * dim * ff) * layers
    attention = 4 * batch * tokens * tokens * dim * layers
    modulation = 2 * batch * config["time_embed_dim"] * 12 * dim * layers
    embed = 2 * batch * (video_tokens * config["in_channels"] * p * p * p_t * dim
                         + TEXT_TOKENS * config["text_embed_dim"] * dim
                         + video_tokens * dim * config["out_channels"] * p * p * p_t)
    return {"tokens": tokens, "video_tokens": video_tokens, "latent_frames": frames,
            "linear": linear, "attention": attention, "other": modulation + embed,
            "total": linear + attention + modulation + embed}


def count_flops(spec: Spec) -> dict:
    """The analytical count, checked against FlopCounterMode on a meta-device forward (no compute)."""
    import torch
    from diffusers import CogVideoXTransformer3DModel
    from torch.utils.flop_counter import FlopCounterMode

    if spec.transformer is None:
        transformer = tiny_components()["transformer"]
        config = dict(transformer.config)
    else:
        config = spec.transformer
        with torch.device("meta"):
            transformer = CogVideoXTransformer3DModel(**config).to(torch_dtype(spec.dtype))
    device = transformer.device
    pipe = make_pipeline(spec, transformer, tiny_components()["vae"])
    pipe.vae_scale_factor_spatial = 8  # the real VAE's (the tiny one stands in, unused)
    inputs = transformer_inputs(spec, pipe, "cpu")
    inputs = {k: (v.to(device) if torch.is_tensor(v) else tuple(t.to(device) for t in v) if isinstance(v, tuple) else v)
              for k, v in inputs.items()}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        transformer(**inputs)
    counted = transformer_flops(config, spec)
    return {**counted, "flop_counter_total": counter.get_total_flops(), "tflop_per_step": round(counted["total"] / 1e12, 1)}


def transformer_config(spec: Spec, transformer) -> dict:
    return dict(spec.transformer) if spec.transformer is not None else dict(transformer.config)


def transformer_inputs(spec: Spec, pipe, device: str, seed: int = 3) -> dict:
    """One CFG step's inputs: batch 2 (negative + positive prompt), random latents and text."""
    import torch

    config = pipe.transformer.config
    frames, _ = latent_frames(spec, dict(config))
    dtype = pipe.transformer.dtype
    g = torch.Generator(device="cpu").manual_seed(seed)
    shape = (2, frames, config.in_channels, spec.height // 8, spec.width // 8)
    rope = None
    if config.use_rotary_positional_embeddings:
        rope = pipe._prepare_rotary_positional_embeddings(spec.height, spec.width, frames, device)
    return {
        "hidden_states": torch.randn(shape, generator=g).to(device, dtype),
        "encoder_hidden_states": torch.randn(2, TEXT_TOKENS, config.text_embed_dim, generator=g).to(device, dtype),
        "timestep": torch.full((2,), 500, device=device, dtype=torch.long),
        "image_rotary_emb": rope,
        "return_dict": False,
    }


# --- timing ---------------------------------------------------------------------------------

def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def time_calls(fn, device: str, warmup: int, repeats: int) -> list[float]:
    """Seconds per call: CUDA events on the GPU, perf_counter on CPU; after `warmup` calls."""
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        else:
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return times


# First match wins: Inductor names a Triton kernel after every op it fused (`..._scaled_mm_...`).
KERNEL_KINDS = (("attention", ("flash", "fmha", "attention")),
                ("fused elementwise", ("triton",)),
                ("matmul", ("gemm", "nvjet", "xmma", "cutlass", "cublas", "_mm")),
                ("memcpy/memset", ("memcpy", "memset")))


def kernel_kind(name: str) -> str:
    lowered = name.lower()
    return next((kind for kind, keys in KERNEL_KINDS if any(k in lowered for k in keys)), "other")


def kernel_times(fn) -> dict:
    """GPU time of one call by kind of kernel (torch.profiler, CUDA activity only), and the top kernels."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    rows = []
    for event in prof.key_averages():
        micros = getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0)
        if micros > 0:
            rows.append((micros, event.count, event.key))
    rows.sort(reverse=True)
    by_kind: dict[str, float] = {}
    for micros, _, name in rows:
        by_kind[kernel_kind(name)] = by_kind.get(kernel_kind(name), 0.0) + micros / 1e3
    return {"total_ms": round(sum(r[0] for r in rows) / 1e3, 1),
            "by_kind_ms": {k: round(v, 1) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "top": [[round(m / 1e3, 2), count, name[:120]] for m, count, name in rows[:12]]}


def gelu_epilogue_check(device: str) -> dict:
    """Which GELU the fused matmul computes on this GPU: max |difference| from the tanh and the erf
    forms in float32 (the tanh one must be ~1e-6, the erf one ~1e-3)."""
    import torch
    import torch.nn.functional as F

    from processing import optimize

    g = torch.Generator(device="cpu").manual_seed(11)
    x = (torch.randn(4096, 1024, generator=g) * 2).to(device)
    weight = (torch.randn(2048, 1024, generator=g) / 32).to(device)
    bias = torch.randn(2048, generator=g).to(device)
    out = optimize.linear_gelu_tanh(x, weight, bias).double()
    exact = F.linear(x.double(), weight.double(), bias.double())
    return {"max_abs_vs_tanh": float((out - F.gelu(exact, approximate="tanh")).abs().max()),
            "max_abs_vs_erf": float((out - F.gelu(exact)).abs().max())}


def wall(fn, device: str):
    sync(device)
    started = time.perf_counter()
    result = fn()
    sync(device)
    return result, time.perf_counter() - started


def summary(times: list[float]) -> dict:
    return {"median_s": round(statistics.median(times), 5), "min_s": round(min(times), 5),
            "max_s": round(max(times), 5), "n": len(times)}


def relative_difference(a, b) -> float:
    a, b = a.detach().cpu().double(), b.detach().cpu().double()
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def psnr(a, b) -> float:
    if a.shape != b.shape:
        raise ValueError(f"PSNR of different shapes {tuple(a.shape)} and {tuple(b.shape)}")
    mse = float(((a.detach().cpu().double() - b.detach().cpu().double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def peak_gib(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / GIB, 2) if device == "cuda" else None


def reset_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def free_memory(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


# --- the benchmark ------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace):
        import torch

        self.args = args
        self.spec = SPECS[args.preset]
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        self.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise SystemExit(f"unknown sections: {sorted(unknown)}")
        self.compile_backend = args.compile_backend or ("inductor" if self.device == "cuda" else None)
        import torch._dynamo

        # Every variant here compiles the same block code again (lossless, fp8, step-cached).
        torch._dynamo.config.recompile_limit = 64
        torch._dynamo.config.accumulated_recompile_limit = 512
        self.started = time.perf_counter()
        self.results: dict = {"preset": self.spec.preset, "device": self.device,
                              "shape": {"frames": self.spec.frames, "height": self.spec.height,
                                        "width": self.spec.width, "cfg_batch": 2, "text_tokens": TEXT_TOKENS},
                              "sections": {}, "skipped": {}, "errors": {}}
        self.lossless_latents = None
        self.lossless_frames = None

    # Rough seconds each section takes on an H100 (budgeting only): 5b as measured; 1.5's steps
    # (warm-up 1, 3 repeats, no float32 reference), attention and vae as measured, the rest scaled
    # by its 4.5x longer step. A job: saving the weights once, then a run.
    ESTIMATES = {
        "cogvideox-5b": {"env": 5, "flops": 10, "attention": 10, "linear": 15, "steps": 150, "denoise": 160,
                         "vae": 30, "plans": 90, "job_save": 60, "job_each": 120},
        "cogvideox1.5-5b": {"env": 5, "flops": 10, "attention": 25, "linear": 20, "steps": 110, "denoise": 720,
                            "vae": 75, "plans": 400, "job_save": 60, "job_each": 420},
    }

    def estimate(self, section: str) -> float:
        if self.device != "cuda" or self.spec.preset not in self.ESTIMATES:
            return 0
        table = self.ESTIMATES[self.spec.preset]
        if section == "job":  # worth starting if one run fits; each run then checks the time left itself
            return table["job_save"] + table["job_each"]
        return table[section]

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def run(self) -> dict:
        for section in self.sections:
            if self.elapsed() + self.estimate(section) > self.args.budget_s:
                log.warning("skipping %s: about %ds left, it needs about %ds", section,
                            self.args.budget_s - self.elapsed(), self.estimate(section))
                self.results["skipped"][section] = "time budget"
                continue
            log.info("== %s (%.0fs elapsed)", section, self.elapsed())
            started = time.perf_counter()
            try:
                self.results["sections"][section] = getattr(self, f"section_{section}")()
            except Exception as exc:  # one broken variant must not cost the other numbers
                log.exception("section %s failed", section)
                self.results["errors"][section] = f"{type(exc).__name__}: {exc}"[:2000]
            finally:
                self.results.setdefault("section_wall_s", {})[section] = round(time.perf_counter() - started, 1)
                free_memory(self.device)
                self.save()
        self.results["wall_s"] = round(self.elapsed(), 1)
        self.save()
        return self.results

    def save(self) -> None:
        if self.args.out is None:
            return
        self.args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.results, indent=2, default=str))
        os.replace(tmp, self.args.out)

    def options(self, speed: str, **overrides):
        """The job's options for `speed`, with compile controlled by --compile-backend."""
        import dataclasses

        from processing import optimize

        options = optimize.options_for(speed, self.device, "none")
        if speed != "stock":
            compile_blocks = self.compile_backend is not None
            options = dataclasses.replace(options, compile_blocks=compile_blocks,
                                          compile_backend=self.compile_backend or "inductor")
        return dataclasses.replace(options, **overrides)

    # --- sections -------------------------------------------------------------------------

    def section_env(self) -> dict:
        import diffusers
        import torch
        import transformers

        info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version(), "diffusers": diffusers.__version__,
                "transformers": transformers.__version__, "cpu": platform.processor() or platform.machine()}
        if self.device == "cuda":
            props = torch.cuda.get_device_properties(0)
            info.update(gpu=torch.cuda.get_device_name(0), capability=list(torch.cuda.get_device_capability()),
                        multiprocessors=props.multi_processor_count, gpu_memory_gib=round(props.total_memory / GIB, 1))
            try:
                info["driver"] = subprocess.run(
                    ["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"],
                    capture_output=True, text=True, timeout=20).stdout.strip()
            except (OSError, subprocess.TimeoutExpired) as exc:
                info["driver"] = f"unavailable ({exc})"
        log.info("env: %s", info)
        return info

    def section_flops(self) -> dict:
        out = count_flops(self.spec)
        log.info("FLOPs per step (CFG batch 2): %.1f TFLOP (linear %.1f, attention %.1f, other %.2f); "
                 "FlopCounterMode: %.1f TFLOP", out["total"] / 1e12, out["linear"] / 1e12,
                 out["attention"] / 1e12, out["other"] / 1e12, out["flop_counter_total"] / 1e12)
        return out

    def section_attention(self) -> dict:
        import torch

        from processing import fa4, optimize

        config = dict(self.spec.transformer or tiny_components()["transformer"].config)
        flops = transformer_flops(config, self.spec)
        heads, head_dim = config["num_attention_heads"], config["attention_head_dim"]
        g = torch.Generator(device="cpu").manual_seed(4)
        q, k, v = (torch.randn(2, heads, flops["tokens"], head_dim, generator=g).to(self.device, torch_dtype(self.spec.dtype))
                   for _ in range(3))
        per_call = 4 * 2 * heads * flops["tokens"] ** 2 * head_dim
        results, reference = {}, None
        for backend in optimize.ATTENTION_BACKENDS:
            if backend == "math" and self.device == "cuda":
                continue  # materialises the full score matrix: tens of GiB at this length
            try:
                if backend != "default" and self.device == "cuda":
                    from torch.nn.attention import sdpa_kernel

                    kernel = optimize.sdpa_backends(backend)[0]

                    def call(kernel=kernel):
                        with sdpa_kernel([kernel]):
                            return torch.nn.functional.scaled_dot_product_attention(q, k, v)
                else:
                    def call():
                        return torch.nn.functional.scaled_dot_product_attention(q, k, v)
                with torch.no_grad():
                    out = call()
                    times = time_calls(call, self.device, 2, self.args.repeats * 2)
                entry = {**summary(times), "tflops": round(per_call / statistics.median(times) / 1e12, 1)}
                if reference is None:
                    reference = out.float()
                else:
                    entry["rel_diff_vs_default"] = relative_difference(out.float(), reference)
                results[backend] = entry
                log.info("attention %-9s %.2f ms  %.0f TFLOP/s", backend, entry["median_s"] * 1e3, entry["tflops"])
            except Exception as exc:
                results[backend] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                log.info("attention %-9s unavailable: %s", backend, results[backend]["error"])
        if self.device == "cuda" and fa4.available():
            # FlashAttention-4 through the job's own seam: the (B, S, H, D) views, no copies.
            try:
                def call():
                    return optimize.attention(q, k, v, "fa4")
                with torch.no_grad():
                    out = call()
                    times = time_calls(call, self.device, 2, self.args.repeats * 2)
                results["fa4"] = {**summary(times), "tflops": round(per_call / statistics.median(times) / 1e12, 1),
                                  "rel_diff_vs_default": relative_difference(out.float(), reference),
                                  "ran": fa4.STATE.ran(), "error": fa4.STATE.error}
                log.info("attention fa4       %.2f ms  %.0f TFLOP/s (ran %s)", results["fa4"]["median_s"] * 1e3,
                         results["fa4"]["tflops"], fa4.STATE.ran())
            except Exception as exc:
                results["fa4"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        elif self.device == "cuda":
            results["fa4"] = {"error": f"not importable: {fa4.import_error()}"}
        results["shape"] = [2, heads, flops["tokens"], head_dim]
        results["per_step_tflop"] = round(flops["attention"] / 1e12, 1)
        return results

    def section_linear(self) -> dict:
        import torch

        from processing import optimize

        config = dict(self.spec.transformer or tiny_components()["transformer"].config)
        flops = transformer_flops(config, self.spec)
        dim = config["num_attention_heads"] * config["attention_head_dim"]
        rows = 2 * flops["tokens"]
        dtype = torch_dtype(self.spec.dtype)
        linear = torch.nn.Linear(dim, 4 * dim, device=self.device, dtype=dtype)
        x = torch.randn(rows, dim, device=self.device, dtype=dtype)
        per_call = 2 * rows * dim * 4 * dim
        out = {"shape": [rows, dim, 4 * dim]}
        with torch.no_grad():
            reference = linear(x)
            out["bf16"] = summary(time_calls(lambda: linear(x), self.device, 2, self.args.repeats * 2))
            fp8 = optimize.Fp8Linear(linear)
            out["fp8_rel_diff"] = relative_difference(fp8(x).float(), reference.float())
            out["fp8_eager"] = summary(time_calls(lambda: fp8(x), self.device, 2, self.args.repeats * 2))
            if self.compile_backend:
                compiled = torch.compile(fp8, fullgraph=True, backend=self.compile_backend)
                out["fp8_compiled"] = summary(time_calls(lambda: compiled(x), self.device, 2, self.args.repeats * 2))
        for key in ("bf16", "fp8_eager", "fp8_compiled"):
            if key in out:
                out[key]["tflops"] = round(per_call / out[key]["median_s"] / 1e12, 1)
                log.info("linear %-12s %.2f ms  %.0f TFLOP/s", key, out[key]["median_s"] * 1e3, out[key]["tflops"])
        return out

    @staticmethod
    def _call(pipe, inputs):
        import torch

        with torch.no_grad():
            return pipe.transformer(**inputs)[0]

    def _step_variant(self, name: str, pipe, inputs, reference, total_flops) -> dict:
        def step():
            return self._call(pipe, inputs)

        reset_peak(self.device)
        first, first_s = wall(step, self.device)
        times = time_calls(step, self.device, max(self.args.warmup - 1, 0), self.args.repeats)
        entry = {**summary(times), "first_call_s": round(first_s, 3),
                 "compile_s": round(max(first_s - statistics.median(times), 0.0), 3),
                 "peak_gib": peak_gib(self.device),
                 "tflops": round(total_flops / statistics.median(times) / 1e12, 1),
                 "denoise_50_est_s": round(50 * statistics.median(times), 1)}
        if reference is not None:
            entry["rel_diff_vs_stock"] = relative_difference(first.float(), reference.float())
            entry["max_abs_diff_vs_stock"] = float((first.float().cpu() - reference.float().cpu()).abs().max())
        log.info("step %-9s median %.3fs (first %.1fs) %.0f TFLOP/s peak %s GiB%s", name, entry["median_s"],
                 first_s, entry["tflops"], entry["peak_gib"],
                 f" rel diff {entry['rel_diff_vs_stock']:.2e}" if "rel_diff_vs_stock" in entry else "")
        return entry, first

    def section_steps(self) -> dict:
        from processing import optimize
        from processing.families import cogvideox

        transformer = build_transformer(self.spec, self.device)
        config = transformer_config(self.spec, transformer)
        total = transformer_flops(config, self.spec)["total"]
        pipe = make_pipeline(self.spec, transformer, build_vae(self.spec, self.device))
        inputs = transformer_inputs(self.spec, pipe, self.device)
        results = {}

        results["stock"], reference = self._step_variant("stock", pipe, inputs, None, total)
        outputs = {"stock": reference.cpu()}
        report = optimize.apply(pipe, self.options("lossless"))
        results["lossless"], out = self._step_variant("lossless", pipe, inputs, outputs["stock"], total)
        results["lossless"]["optimizations"] = report.to_json()
        outputs["lossless"] = out.cpu()
        if self.device == "cuda":
            results["lossless"]["kernels"] = kernel_times(lambda: self._call(pipe, inputs))
            results["gelu_epilogue"] = gelu_epilogue_check(self.device)
        if report.attention == "fa4":
            # The same compiled blocks with today's cuDNN SDPA instead, for the comparison.
            for block in optimize.blocks_of(pipe.transformer):
                block.attn1.set_processor(cogvideox.CogVideoXAttnProcessor("cudnn"))
            results["lossless_cudnn"], out = self._step_variant("lossless-cudnn", pipe, inputs, outputs["stock"],
                                                                total)
            outputs["lossless_cudnn"] = out.cpu()
            for block in optimize.blocks_of(pipe.transformer):
                block.attn1.set_processor(cogvideox.CogVideoXAttnProcessor("fa4"))
        if self.device == "cuda" and torch_fp8_ok():
            # fp8 matmuls alone (the step cache saves whole steps, measured in `denoise`).
            for block in optimize.blocks_of(pipe.transformer):
                optimize.to_fp8(block)
            results["fast_fp8_step"], out = self._step_variant("fast-fp8", pipe, inputs, outputs["stock"], total)
            results["fast_fp8_step"]["kernels"] = kernel_times(lambda: self._call(pipe, inputs))
            outputs["fast_fp8_step"] = out.cpu()
        if self.args.fp32_reference and self.spec.dtype != "float32":
            del pipe, transformer, out
            free_memory(self.device)
            self._against_fp32(results, outputs)
        return results

    def _against_fp32(self, results: dict, outputs: dict) -> None:
        """bf16 error budget: each variant's distance from the same weights run in float32.

        Lossless means "no further from float32 than stock diffusers is"."""
        import torch

        transformer = build_transformer(self.spec, self.device).float()  # same seed: the bf16 weights, upcast
        pipe = make_pipeline(self.spec, transformer, build_vae(self.spec, self.device))
        inputs = transformer_inputs(self.spec, pipe, self.device)
        inputs = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in inputs.items()}
        inputs["hidden_states"] = inputs["hidden_states"].to(torch.bfloat16).float()
        inputs["encoder_hidden_states"] = inputs["encoder_hidden_states"].to(torch.bfloat16).float()
        with torch.no_grad():
            reference, seconds = wall(lambda: transformer(**inputs)[0], self.device)
        reference = reference.cpu()
        for name, out in outputs.items():
            results[name]["rel_diff_vs_fp32"] = relative_difference(out.float(), reference)
        results["fp32_reference_s"] = round(seconds, 2)
        log.info("vs float32: %s", {n: f"{results[n]['rel_diff_vs_fp32']:.2e}" for n in outputs})

    def _denoise(self, name: str, pipe, steps: int) -> dict:
        import torch

        from processing import noise, pipeline

        g = torch.Generator(device="cpu").manual_seed(5)
        dim = pipe.transformer.config.text_embed_dim
        dtype = pipe.transformer.dtype
        embeds = torch.randn(1, TEXT_TOKENS, dim, generator=g).to(self.device, dtype)
        negative = torch.randn(1, TEXT_TOKENS, dim, generator=g).to(self.device, dtype)
        stamps = []

        def on_step(_pipe, index, _t, tensors):
            sync(self.device)
            stamps.append(time.perf_counter())
            return tensors

        def call(steps=steps):
            # The job's noise: a CPU generator (a seed is the same video on every device), drawn ahead
            # beside the GPU's step as pipeline.generate does (processing/noise.py).
            generator = pipeline.seed_generator(6)
            with noise.prefetched(pipe, generator):
                return pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, height=self.spec.height,
                            width=self.spec.width, num_frames=self.spec.frames, num_inference_steps=steps,
                            guidance_scale=6.0, use_dynamic_cfg=True, output_type="latent", generator=generator,
                            callback_on_step_end=on_step, max_sequence_length=TEXT_TOKENS).frames

        # One untimed step first: a job compiles its graph before the loop (the prewarm), so the loop's
        # time must not hold a compile either.
        with torch.no_grad():
            _, warmup_s = wall(lambda: call(1), self.device)
        stamps.clear()
        reset_peak(self.device)
        started = time.perf_counter()
        with torch.no_grad():
            latents, seconds = wall(call, self.device)
        step_times = [b - a for a, b in zip(stamps, stamps[1:])]
        entry = {"steps": steps, "denoise_s": round(seconds, 2), "peak_gib": peak_gib(self.device),
                 "warmup_step_s": round(warmup_s, 2), "first_step_s": round(stamps[0] - started, 2) if stamps else None,
                 "median_step_s": round(statistics.median(step_times), 4) if step_times else None}
        log.info("denoise %-9s %d steps in %.1fs (median step %s s)", name, steps, seconds, entry["median_step_s"])
        return entry, latents

    def _decode(self, vae, latents):
        """What CogVideoXPipeline does after the loop: drop padded frames, unscale, decode, to [0, 1]."""
        import torch
        from diffusers.video_processor import VideoProcessor

        config = self.spec.transformer or dict(tiny_components()["transformer"].config)
        _, extra = latent_frames(self.spec, config)
        with torch.no_grad():
            video = vae.decode(latents[:, extra:].permute(0, 2, 1, 3, 4) / vae.config.scaling_factor).sample
            processor = VideoProcessor(vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1))
            return processor.postprocess_video(video=video, output_type="pt")[0].float().cpu()

    def section_denoise(self) -> dict:
        from processing import optimize

        results = {}
        steps = self.args.denoise_steps
        speeds = [v.strip() for v in self.args.denoise_speeds.split(",") if v.strip()]
        vae = build_vae(self.spec, self.device)
        frames = latents = None
        if "lossless" in speeds:
            transformer = build_transformer(self.spec, self.device)
            pipe = make_pipeline(self.spec, transformer, vae)
            optimize.apply(pipe, self.options("lossless"))
            results["lossless"], latents = self._denoise("lossless", pipe, steps)
            frames, decode_s = wall(lambda: self._decode(vae, latents), self.device)
            results["lossless"]["decode_s"] = round(decode_s, 2)
            self.lossless_latents = latents.cpu()
            del pipe, transformer
            free_memory(self.device)
        if "fast" in speeds:
            transformer = build_transformer(self.spec, self.device)  # same seed: same weights as above
            pipe = make_pipeline(self.spec, transformer, vae)
            report = optimize.apply(pipe, self.options("fast"))
            results["fast"], fast_latents = self._denoise("fast", pipe, steps)
            results["fast"]["optimizations"] = report.to_json()
            if latents is not None:
                fast_frames = self._decode(vae, fast_latents)
                results["fast"]["latent_rel_diff_vs_lossless"] = relative_difference(fast_latents.float().cpu(),
                                                                                     latents.float().cpu())
                results["fast"]["psnr_db_vs_lossless"] = round(psnr(fast_frames, frames), 2)
                results["fast"]["frames_shape"] = list(frames.shape)
                log.info("fast vs lossless: PSNR %.2f dB, latent rel diff %.3e; %s",
                         results["fast"]["psnr_db_vs_lossless"], results["fast"]["latent_rel_diff_vs_lossless"],
                         report.to_json()["step_cache"])
        return results

    def section_vae(self) -> dict:
        import torch

        vae = build_vae(self.spec, self.device)
        frames, _ = latent_frames(self.spec, self.spec.transformer or dict(tiny_components()["transformer"].config))
        latents = self.lossless_latents
        if latents is None:
            g = torch.Generator(device="cpu").manual_seed(7)
            latents = torch.randn(1, frames, 16 if self.spec.vae else 4, self.spec.height // 8, self.spec.width // 8,
                                  generator=g)
        latents = latents.to(self.device, vae.dtype)
        results = {}
        variants = [("plain", False, False), ("plain_again", False, False), ("cudnn_benchmark", True, False),
                    ("cudnn_benchmark_again", True, False)]
        if self.spec.vae is not None:  # diffusers' tile sizes assume real frame sizes
            variants.append(("tiled", False, True))
        reference = None
        for name, benchmark, tiled in variants:
            torch.backends.cudnn.benchmark = benchmark
            if tiled:
                vae.enable_tiling()
            else:
                vae.disable_tiling()
            reset_peak(self.device)
            try:
                out, seconds = wall(lambda: self._decode(vae, latents), self.device)
            finally:
                torch.backends.cudnn.benchmark = False
            entry = {"decode_s": round(seconds, 3), "peak_gib": peak_gib(self.device)}
            if reference is None:
                reference = out
            else:
                entry["psnr_db_vs_plain"] = round(psnr(out, reference), 2)
            results[name] = entry
            log.info("vae %-22s %.2fs peak %s GiB", name, seconds, entry["peak_gib"])
        return results

    def section_plans(self) -> dict:
        import torch

        from processing import optimize, pipeline, tiny

        if self.device != "cuda":
            caps = [None]
        else:
            caps = [int(c) for c in self.args.plan_caps.split(",") if c]

        def lossless_pipeline(compile_blocks: bool):
            pipe = make_pipeline(self.spec, build_transformer(self.spec, self.device), build_vae(self.spec, self.device),
                                 build_text_encoder(self.spec, self.device), tiny.build_tokenizer(TEXT_TOKENS))
            optimize.apply(pipe, self.options("lossless", compile_blocks=compile_blocks and
                                              self.compile_backend is not None))
            return pipe

        pipe = lossless_pipeline(True)
        total_gib = torch.cuda.get_device_properties(0).total_memory / GIB if self.device == "cuda" else None
        pipe.to(self.device)
        if self.compile_backend is not None:
            self._plan_run(pipe, 1)  # compiles the blocks (no-op if `steps` already did) outside the timings
        results = {}
        # Sequential offload comes last: accelerate swaps every layer's weights per call, which the
        # compiled blocks cannot trace, so the job runs it eagerly (optimize.options_for) and so does this.
        kinds = [k.strip() for k in self.args.plan_kinds.split(",") if k.strip()]
        runs = [(cap, plan) for cap in caps for plan in ("none", "model")
                if plan in kinds and (plan == "none" or cap is None or cap <= 48)]
        runs += [(cap, "sequential") for cap in caps if "sequential" in kinds and cap is not None and cap <= 24]
        for cap, plan in runs:
            key = f"{cap or 'cpu'}GiB-{plan}"
            pipe.remove_all_hooks()
            if plan == "sequential":  # a fresh, uncompiled pipeline: offload hooks do not stack cleanly
                del pipe
                free_memory(self.device)
                pipe = lossless_pipeline(False)
            pipe.to(self.device if plan == "none" else "cpu")
            pipe.vae.disable_tiling()
            pipe.vae.disable_slicing()
            free_memory(self.device)
            if cap is not None:
                torch.cuda.set_per_process_memory_fraction(min(cap / total_gib, 1.0))
            try:
                pipeline.place_pipeline(pipe, plan, self.device)
                reset_peak(self.device)
                steps = 1 if plan == "sequential" else self.args.plan_steps
                results[key] = self._plan_run(pipe, steps)
                log.info("plan %-16s %.1fs for %d steps + T5 + decode, peak %s GiB", key, results[key]["wall_s"],
                         steps, results[key]["peak_gib"])
            except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
                results[key] = {"fits": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
                log.info("plan %-16s does not fit: %s", key, results[key]["error"])
            finally:
                if cap is not None:
                    torch.cuda.set_per_process_memory_fraction(1.0)
        pipe.remove_all_hooks()
        return results

    def _plan_run(self, pipe, steps: int) -> dict:
        import torch

        stamps = []

        def on_step(_pipe, _index, _t, tensors):
            sync(self.device)
            stamps.append(time.perf_counter())
            return tensors

        def call():
            return pipe(prompt="a red fox running through fresh snow", negative_prompt="", height=self.spec.height,
                        width=self.spec.width, num_frames=self.spec.frames, num_inference_steps=steps,
                        guidance_scale=6.0, use_dynamic_cfg=True, output_type="np",
                        generator=torch.Generator(device="cpu").manual_seed(8), callback_on_step_end=on_step,
                        max_sequence_length=TEXT_TOKENS).frames

        started = time.perf_counter()
        with torch.no_grad():
            _, seconds = wall(call, self.device)
        step_times = [b - a for a, b in zip(stamps, stamps[1:])]
        return {"fits": True, "steps": steps, "wall_s": round(seconds, 2), "peak_gib": peak_gib(self.device),
                "to_first_step_end_s": round(stamps[0] - started, 2) if stamps else None,
                "after_last_step_s": round(started + seconds - stamps[-1], 2) if stamps else None,
                "median_step_s": round(statistics.median(step_times), 3) if step_times else None}

    def section_job(self) -> dict:
        from processing import optimize, tiny

        work = self.args.work_dir or Path(tempfile.mkdtemp(prefix="videobot-bench-"))
        models = work / "models"
        results = {}
        if self.spec.transformer is not None:
            target = models / self.spec.preset
            if not (target / "model_index.json").is_file():
                def save():
                    pipe = make_pipeline(self.spec, build_transformer(self.spec, self.device),
                                         build_vae(self.spec, self.device), build_text_encoder(self.spec, self.device),
                                         tiny.build_tokenizer(TEXT_TOKENS))
                    pipe.save_pretrained(target, safe_serialization=True)
                _, seconds = wall(save, self.device)
                free_memory(self.device)
                results["save_weights_s"] = round(seconds, 1)
            results["weights_gib"] = round(sum(f.stat().st_size for f in target.rglob("*.safetensors")) / GIB, 2)
        job_dir = work / "input"
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "job.json").write_text(json.dumps({
            "id": "bench", "model": self.spec.preset, "prompt": "a red fox running through fresh snow, cinematic",
            "seed": 42, "frames": self.spec.frames, "steps": self.args.job_steps}))
        runs = [(name, int(gpus)) for name in self.args.job_speeds.split(",") if name.strip()
                for gpus in self.args.job_gpus.split(",") if gpus.strip()]
        for base, gpus in runs:
            base = base.strip()
            name = base if gpus == 1 else f"{base}-gpus{gpus}"
            left = self.args.budget_s - self.elapsed()
            needs = self.ESTIMATES.get(self.spec.preset, {}).get("job_each", 60) if self.device == "cuda" else 0
            if left < max(needs, 60):
                results[name] = {"skipped": "time budget"}
                continue
            variant, _, where = base.partition("@")
            speed = variant.split("-")[0]
            if variant.endswith("-cold") or variant.endswith("-staged"):
                shutil.rmtree(optimize.compile_cache_dir(models, self.spec.preset), ignore_errors=True)
            if variant.endswith("-staged"):
                results[f"{name}-stage"] = self._stage_compile_cache(work, models)
            if variant.endswith("-warm"):
                results[f"{name}-cache"] = self._seed_compile_cache(models, speed)
            # The weights were just written, so they are in the page cache unless dropped.
            dropped = drop_page_cache() if where == "disk" else False
            results[name] = self._run_job(work, job_dir, models, speed, name.replace("@", "-"), timeout=left - 30,
                                          gpus=gpus)
            results[name]["page_cache_dropped"] = dropped
            if gpus > 1 and isinstance(results.get(base), dict):
                results[name]["vs_1_gpu"] = compare_videos(work / f"out-{base.replace('@', '-')}",
                                                           work / f"out-{name.replace('@', '-')}")
                results[name]["vs_1_gpu"]["float_frames"] = compare_frames(
                    work / f"frames-{base.replace('@', '-')}.npy", work / f"frames-{name.replace('@', '-')}.npy")
            self.results["sections"]["job"] = results
            self.save()
        return results

    def _seed_compile_cache(self, models: Path, speed: str) -> dict:
        """What an operator does once per GPU type and torch version: keep the compile artefacts
        of a run (here: this process, which compiled the same blocks) where the job looks for them."""
        import torch

        from processing import optimize

        config = self.spec.transformer or dict(tiny_components()["transformer"].config)
        frames, _ = latent_frames(self.spec, config)
        shape = (2, frames, config["in_channels"], self.spec.height // 8, self.spec.width // 8)
        path = optimize.compile_cache_file(optimize.compile_cache_dir(models, self.spec.preset),
                                           f"{self.spec.preset}-{speed}", shape)
        if path.is_file():
            return {"file": str(path), "seeded": False, "bytes": path.stat().st_size}
        artifacts = torch.compiler.save_cache_artifacts() if self.compile_backend == "inductor" else None
        if not artifacts:
            return {"file": str(path), "seeded": False, "bytes": 0}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(artifacts[0])
        return {"file": str(path), "seeded": True, "bytes": len(artifacts[0])}

    def _stage_compile_cache(self, work: Path, models: Path) -> dict:
        """What `videobot models stage` runs on a GPU instance after the download: the compile cache
        for the preset's default job, in a process of its own (as the staging job is)."""
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(work / "inductor-stage"))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                          env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "processing", "stage", "--model", self.spec.preset, "--dest", str(models),
                   "--compile-cache-only"]
        started = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        cache = optimize_cache_files(models, self.spec.preset)
        entry = {"stage_exit_code": proc.returncode, "wall_s": round(time.perf_counter() - started, 2), "files": cache}
        if proc.returncode != 0 or not cache:
            entry["stderr_tail"] = proc.stderr[-3000:]
        log.info("stage compile cache: exit %d in %.1fs, %s", proc.returncode, entry["wall_s"], cache)
        return entry

    def _run_job(self, work: Path, job_dir: Path, models: Path, speed: str, name: str, timeout: float,
                 gpus: int = 1) -> dict:
        out = work / f"out-{name}"
        shutil.rmtree(out, ignore_errors=True)
        env = dict(os.environ)
        # A fresh Inductor cache per process: only the job's own compile-cache file carries over,
        # as on a fresh SageMaker container.
        env["TORCHINDUCTOR_CACHE_DIR"] = str(work / f"inductor-{name}")
        env["VIDEOBOT_BENCH_FRAMES"] = str(work / f"frames-{name}.npy")  # processing/job.py BENCH_FRAMES_ENV
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                          env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "processing", "run", "--input-dir", str(job_dir), "--output-dir", str(out),
                   "--models-dir", str(models), "--device", self.device, "--memory-plan", "none", "--speed", speed,
                   "--gpus", str(gpus)]
        started_wall = time.time()
        started = time.perf_counter()
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=max(timeout, 1) if math.isfinite(timeout) else None)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f}s"}
        seconds = time.perf_counter() - started
        entry = {"exit_code": proc.returncode, "process_wall_s": round(seconds, 2), "command": " ".join(command)}
        video = out / "video.mp4"
        if video.is_file():
            entry["start_to_mp4_s"] = round(video.stat().st_mtime - started_wall, 2)
        if (out / "metadata.json").is_file():
            metadata = json.loads((out / "metadata.json").read_text())
            entry["timings_s"] = metadata["timings_s"]
            entry["denoise_steps_s"] = metadata["runtime"].get("denoise_steps_s")
            entry["noise_draws"] = metadata["runtime"].get("noise_draws")
            entry["peak_gib"] = round((metadata["runtime"]["peak_gpu_memory_bytes"] or 0) / GIB, 2)
            entry["optimizations"] = metadata["runtime"].get("optimizations")
            parallel = metadata.get("parallel")
            if parallel:
                entry["parallel"] = parallel
                entry["peak_gib_per_worker"] = [round((b or 0) / GIB, 2)
                                                for b in parallel.get("peak_gpu_memory_bytes_per_worker") or []]
        else:
            entry["stderr_tail"] = proc.stderr[-3000:]
        log.info("job %-14s exit %d, %.1fs process wall, timings %s", name, proc.returncode, seconds,
                 entry.get("timings_s"))
        return entry


def decoded_frames(video: Path):
    """The MP4's frames as float32 (frames, height, width, 3) in 0..255, decoded by the job's ffmpeg."""
    import numpy as np

    from processing import video as video_module

    info = video_module.probe(video)
    raw = subprocess.run([video_module.ffmpeg_exe(), "-v", "error", "-i", str(video), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, info.height, info.width, 3).astype(np.float32)


def compare_videos(reference_dir: Path, other_dir: Path) -> dict:
    """How far a multi-GPU job's video is from the one-GPU job's: relative difference and PSNR of the
    decoded frames (both went through the same H.264 settings)."""
    try:
        a, b = decoded_frames(reference_dir / "video.mp4"), decoded_frames(other_dir / "video.mp4")
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    if a.shape != b.shape:
        return {"error": f"shapes differ: {a.shape} vs {b.shape}"}
    import torch

    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return {"frames_rel_diff": round(relative_difference(tb, ta), 6),
            "frames_psnr_db": round(psnr(tb / 255, ta / 255), 2), "frames_max_abs_diff": float((ta - tb).abs().max())}


def compare_frames(reference: Path, other: Path) -> dict:
    """The same comparison on the float frames the two jobs decoded, before H.264 (processing/job.py
    BENCH_FRAMES_ENV): only the GPU arithmetic in between."""
    import numpy as np
    import torch

    try:
        a, b = np.load(reference).astype(np.float32), np.load(other).astype(np.float32)
    except (OSError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    if a.shape != b.shape:
        return {"error": f"shapes differ: {a.shape} vs {b.shape}"}
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return {"rel_diff": round(relative_difference(tb, ta), 6), "psnr_db": round(psnr(tb, ta), 2),
            "max_abs_diff": float((ta - tb).abs().max())}


def optimize_cache_files(models: Path, preset: str) -> dict:
    from processing import optimize

    folder = optimize.compile_cache_dir(models, preset)
    return {p.name: p.stat().st_size for p in sorted(folder.glob("*.bin"))} if folder.is_dir() else {}


def torch_fp8_ok() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)


def drop_page_cache() -> bool:
    """Makes the next weight load read the disk (root only); False where the kernel refuses."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


# --- report ---------------------------------------------------------------------------------------

def table(results: dict) -> str:
    """The short summary printed last (the device run's output tail)."""
    s = results["sections"]
    lines = [f"preset {results['preset']} on {s.get('env', {}).get('gpu', results['device'])} "
             f"(torch {s.get('env', {}).get('torch')}, diffusers {s.get('env', {}).get('diffusers')})"]
    flops = s.get("flops")
    if flops:
        lines.append(f"FLOPs/step (CFG 2): {flops['total'] / 1e12:.1f} T (FlopCounterMode "
                     f"{flops['flop_counter_total'] / 1e12:.1f} T), tokens {flops['tokens']}")
    for name, entry in (s.get("attention") or {}).items():
        if isinstance(entry, dict) and "median_s" in entry:
            lines.append(f"attention {name:10s} {entry['median_s'] * 1e3:8.2f} ms {entry['tflops']:6.0f} TFLOP/s")
    for name, entry in (s.get("steps") or {}).items():
        if not isinstance(entry, dict) or "median_s" not in entry:  # gelu_epilogue, kernel_times: in the JSON
            continue
        lines.append(f"step {name:14s} {entry['median_s']:.3f} s  {entry['tflops']:.0f} TFLOP/s  "
                     f"first {entry['first_call_s']:.1f} s  peak {entry['peak_gib']} GiB  "
                     f"x50 {entry['denoise_50_est_s']} s  rel diff vs stock {entry.get('rel_diff_vs_stock', 0):.2e}"
                     f"  vs fp32 {entry.get('rel_diff_vs_fp32', float('nan')):.2e}")
    for name, entry in (s.get("denoise") or {}).items():
        lines.append(f"denoise {name:9s} {entry['steps']} steps {entry['denoise_s']} s, median step "
                     f"{entry['median_step_s']} s, peak {entry['peak_gib']} GiB"
                     + (f", PSNR vs lossless {entry['psnr_db_vs_lossless']} dB" if "psnr_db_vs_lossless" in entry else ""))
    for name, entry in (s.get("vae") or {}).items():
        lines.append(f"vae {name:22s} {entry['decode_s']} s peak {entry['peak_gib']} GiB")
    for name, entry in (s.get("plans") or {}).items():
        lines.append(f"plan {name:16s} " + (f"{entry['wall_s']} s ({entry['steps']} steps + T5 + decode), median step "
                                           f"{entry['median_step_s']} s, peak {entry['peak_gib']} GiB"
                                           if entry.get("fits") else "does not fit"))
    for name, entry in (s.get("job") or {}).items():
        if isinstance(entry, dict) and "stage_exit_code" in entry:
            lines.append(f"job {name:14s} stage exit {entry['stage_exit_code']} wall {entry['wall_s']} s "
                         f"files {entry['files']}")
        if isinstance(entry, dict) and "exit_code" in entry:
            lines.append(f"job {name:14s} exit {entry['exit_code']} wall {entry['process_wall_s']} s "
                         f"timings {entry.get('timings_s')}")
    if results["skipped"]:
        lines.append(f"skipped: {results['skipped']}")
    if results["errors"]:
        lines.append(f"errors: {json.dumps(results['errors'])[:1500]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from processing.benchmarks import bench_wan

    if bench_wan.wanted(argv):  # the Wan family has its own sections (bench_wan.py)
        return bench_wan.main(argv)
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results = Bench(args).run()
    print(table(results), flush=True)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
