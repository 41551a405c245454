"""Builds the one pipeline a job uses (weights, dtype, scheduler, memory plan) and runs it.

What differs between model families (pipeline classes, scheduler, call arguments, the tiny model,
how the speed options patch the transformer) is asked of the preset's family (processing/families/).
GPU-speed work (torch.compile, fused attention, quantisation) lives in optimize.py and is applied
in `build_pipeline`; the run in job.py (step 2 and 3) only calls `build_pipeline` and `generate`.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from processing.errors import JobError
from processing.families import family_of
from processing.presets import Preset

log = logging.getLogger(__name__)

MEMORY_PLANS = ("none", "model", "sequential")
# Keeping every component resident needs roughly this multiple of the preset's
# `min_gpu_gib` (which is sized for model CPU offload): weights of T5-XXL + transformer
# + VAE, plus activations and the VAE decode peak.
RESIDENT_FACTOR = 2.25
GIB = 1024**3


def probe_device() -> dict:
    """What `python -m processing probe` prints: enough for the bot to pick a preset."""
    import torch

    info = {"cuda": False, "device_name": None, "total_gib": None, "free_gib": None,
            "torch": ".".join(torch.__version__.split("+")[0].split(".")[:2])}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        info.update(cuda=True, device_name=torch.cuda.get_device_name(0),
                    total_gib=round(total / GIB, 2), free_gib=round(free / GIB, 2))
    return info


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise JobError("INTERNAL_ERROR", "This worker has no usable GPU, so the job cannot run here.",
                       retryable=True)
    return requested


def resolve_dtype(preset: Preset, device: str) -> str:
    # Half precision convolutions are missing or very slow on CPU; float32 is exact there.
    if device == "cpu" and preset.dtype == "float16":
        return "float32"
    return preset.dtype


def free_gpu_gib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.mem_get_info()[0] / GIB


def resident_gib(preset: Preset, frames: int | None = None) -> float:
    """Free GPU memory needed to keep everything resident. The VAE decode peak grows with the
    frame count, so above the preset's default the need grows in proportion."""
    base = preset.resident_gpu_gib or preset.min_gpu_gib * RESIDENT_FACTOR
    if frames is None or frames <= preset.frames.default:
        return base
    return base * frames / preset.frames.default


def choose_memory_plan(requested: str, device: str, preset: Preset, free_gib: float | None,
                       frames: int | None = None) -> str:
    """auto: everything resident when it fits, else model offload, else sequential offload."""
    if device == "cpu":
        if requested not in ("auto", "none"):
            log.warning("memory plan %r needs a GPU; using 'none' on CPU", requested)
        return "none"
    if requested != "auto":
        return requested
    if free_gib is None or free_gib >= resident_gib(preset, frames):
        return "none"
    if free_gib >= preset.min_gpu_gib:
        return "model"
    return "sequential"


def resolve_weights(preset: Preset, models_dir: Path, allow_download: bool) -> str | None:
    """Local save_pretrained dir first, then the Hub id if allowed; None means built in code."""
    if preset.hf_id is None:
        return None
    local = models_dir / preset.name
    if (local / "model_index.json").is_file():
        return str(local)
    if allow_download:
        return preset.hf_id
    raise JobError("MODEL_NOT_AVAILABLE",
                   f"The {preset.label} weights are not installed on this worker (looked in {local}).",
                   retryable=False)


def pipeline_class(preset: Preset, mode: str):
    return family_of(preset).pipeline_class(preset, mode)


@contextlib.contextmanager
def parallel_shard_loading():
    """Reads a model's safetensors shards in parallel threads (diffusers and transformers both
    support it behind HF_ENABLE_PARALLEL_LOADING; diffusers reads the flag once, at import)."""
    from diffusers.models import modeling_utils

    previous_env = os.environ.get("HF_ENABLE_PARALLEL_LOADING")
    previous_flag = getattr(modeling_utils, "HF_ENABLE_PARALLEL_LOADING", None)
    os.environ["HF_ENABLE_PARALLEL_LOADING"] = "yes"
    if previous_flag is not None:
        modeling_utils.HF_ENABLE_PARALLEL_LOADING = True
    try:
        yield
    finally:
        if previous_env is None:
            os.environ.pop("HF_ENABLE_PARALLEL_LOADING", None)
        else:
            os.environ["HF_ENABLE_PARALLEL_LOADING"] = previous_env
        if previous_flag is not None:
            modeling_utils.HF_ENABLE_PARALLEL_LOADING = previous_flag


def load_components(preset: Preset, mode: str, weights: str | None, dtype, *, direct_to: str | None = None):
    """The pipeline with its weights; `direct_to` loads every component straight onto that device
    (shards in parallel) instead of building it in host memory and copying it over afterwards."""
    family = family_of(preset)
    if weights is None:
        return pipeline_class(preset, mode)(**family.tiny_components(preset, mode)).to(dtype=dtype)
    local = Path(weights).is_dir()
    try:
        if direct_to is None:
            return family.from_pretrained(preset, mode, weights, dtype, local_files_only=local)
        with parallel_shard_loading():
            pipe = family.from_pretrained(preset, mode, weights, dtype, local_files_only=local, device_map=direct_to)
        pipe.hf_device_map = None  # one device for everything: nothing to dispatch, and pipe.to() stays usable
        return pipe
    except (OSError, ValueError, EnvironmentError) as exc:
        where = weights if local else f"{preset.hf_id} on the Hugging Face Hub"
        raise JobError("MODEL_NOT_AVAILABLE",
                       f"The {preset.label} weights could not be loaded from {where}.",
                       retryable=False) from exc


def start_prewarm(preset: Preset, weights: str | None, options, warm_shape, dtype, device: str,
                  compile_cache_dir: Path | None):
    """Starts compiling the transformer block while the weights load (optimize.Prewarm), where the
    options ask for it and the transformer's config can be read before its weights."""
    from processing import optimize

    family = family_of(preset)
    if not options.prewarm or not family.prewarm or warm_shape is None or weights is None:
        return None
    config_file = Path(weights) / "transformer" / "config.json"
    if not config_file.is_file():
        return None
    return optimize.Prewarm(json.loads(config_file.read_text()), options, warm_shape, dtype=dtype, device=device,
                            compile_cache_dir=compile_cache_dir, label=preset.name, family=family).start()


def build_pipeline(preset: Preset, mode: str, weights: str | None, device: str, dtype_name: str, plan: str, *,
                   speed: str = "stock", compile_cache_dir: Path | None = None, warm_shape=None):
    """`speed` picks processing/optimize.py's options; `optimizations(pipe)` reports what was applied.

    `warm_shape` (optimize.WarmShape: the call the job will make) lets the block compile while
    the weights load."""
    began = time.perf_counter()
    loading: dict = {"at_s": {}}

    def mark(name: str) -> None:  # seconds since build_pipeline began, per step (metadata.json)
        loading["at_s"][name] = round(time.perf_counter() - began, 3)

    import torch

    from processing import loader, optimize

    family = family_of(preset)
    # FlashAttention-4's kernels are kept beside the weights (before its first import, in options_for).
    optimize.keep_fa4_kernels(compile_cache_dir, device)
    options = optimize.options_for(speed, device, plan)
    loading["direct"] = options.direct_load
    # Loading in two halves (processing/loader.py). The tensors are read onto the GPU from the start, beside
    # the imports, by threads that import nothing; the models are built empty after the imports and before
    # the prewarm starts (building changes torch's process-wide default dtype, which Dynamo checks while
    # it traces); the tensors are put in place while the prewarm compiles.
    two_halves = bool(options.direct_load and options.prewarm and family.prewarm and weights is not None
                      and Path(weights).is_dir())
    reader = loader.Reader(weights, device).start() if two_halves else None
    if reader is not None:
        mark("read_started")
    # Otherwise, where everything stays resident, the weight files go into the page cache beside the imports
    # (a disk serves parallel reads faster than one stream); an offloading plan is the small machine whose
    # memory may not hold them twice over.
    ahead = None
    if not two_halves and weights is not None and Path(weights).is_dir() and plan == "none" and speed != "stock":
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="videobot-read-ahead")
        ahead = pool.submit(read_ahead, Path(weights))
        pool.shutdown(wait=False)  # its thread ends with the read
    # Every import happens here, before another thread runs Python that imports: diffusers' and
    # transformers' lazy modules are not safe to import from two threads at once (seen on the GPU
    # benchmark: one thread got a half-initialised transformers and failed).
    pipeline_cls = pipeline_class(preset, mode)
    family.transformer_class()
    mark("imported")
    dtype = getattr(torch, dtype_name)
    skeleton = None
    if two_halves:
        try:
            skeleton = loader.empty_pipeline(pipeline_cls, weights, dtype)
            mark("built_empty")
        except Exception as exc:  # noqa: BLE001 - from_pretrained below loads it, or says why it cannot
            _fall_back(exc, loading)
    prewarm = start_prewarm(preset, weights, options, warm_shape, dtype, device, compile_cache_dir)
    if prewarm is not None:
        mark("prewarm_started")
    if ahead is not None:
        loading["read_ahead_bytes"] = ahead.result()
        mark("read_ahead")
    if reader is not None:
        try:
            tensors = reader.result()
            mark("read")
            loading["read"] = {"bytes": reader.bytes, "seconds": reader.seconds}
            if skeleton is not None:
                skeleton.fill(device, tensors)
                mark("filled")
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - as above
            _fall_back(exc, loading)
            skeleton = None
        tensors = None
        if skeleton is None:  # what the reader or a refused fill put on the GPU goes back before the second load
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()
    if prewarm is not None:
        prewarm.wait()
        mark("prewarm_done")
    if skeleton is not None:
        pipe = skeleton.pipeline()
        loading["loader"] = "two halves"
    else:
        pipe = load_components(preset, mode, weights, dtype, direct_to=device if options.direct_load else None)
        loading["loader"] = "from_pretrained"
    mark("loaded")
    family.configure(pipe, preset)
    pipe.set_progress_bar_config(disable=True)

    # Optimisations rewrite layers, so they go before offload hooks; with everything resident
    # they run after the move, on the GPU, where quantising weights is fast.
    def apply():
        return optimize.apply(pipe, options, work_device=device, compile_cache_dir=compile_cache_dir,
                              label=preset.name, prewarm=prewarm, family=family)

    if plan == "none":
        place_pipeline(pipe, plan, device)
        mark("placed")
        pipe.videobot_optimizations = apply()
    else:
        pipe.videobot_optimizations = apply()
        mark("optimised")
        place_pipeline(pipe, plan, device)
    mark("ready")
    pipe.videobot_optimizations.loading = loading
    return pipe


def _fall_back(exc: Exception, loading: dict) -> None:
    """The saved pipeline is not one processing/loader.py reproduces exactly (or reading it failed): the
    job loads it with from_pretrained after the prewarm, which loads it or says why it cannot, and
    metadata.json says why."""
    log.warning("loading with from_pretrained instead: %s: %s", type(exc).__name__, exc)
    loading.setdefault("loader_fallback", f"{type(exc).__name__}: {exc}"[:300])  # the first reason


def optimizations(pipe) -> dict | None:
    report = getattr(pipe, "videobot_optimizations", None)
    return report.to_json() if report is not None else None


def place_pipeline(pipe, plan: str, device: str) -> None:
    """Puts the components where the memory plan wants them (all on the GPU, or offloaded)."""
    if plan == "none":
        pipe.to(device)
    elif plan == "model":
        pipe.enable_model_cpu_offload(device=device)
        pipe.vae.enable_tiling()
    elif plan == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
        pipe.vae.enable_slicing()
        pipe.vae.enable_tiling()
    else:
        raise ValueError(f"unknown memory plan {plan!r}")


def seed_generator(seed: int):
    """The job's noise source: a CPU generator, so a seed means the same video on every device (a CUDA
    generator draws different numbers from a CPU one for the same seed). diffusers draws on the
    generator's device and moves the noise to the pipeline's."""
    import torch

    return torch.Generator(device="cpu").manual_seed(seed)


def generate(pipe, *, preset: Preset, mode: str, prompt: str, negative_prompt: str, seed: int,
             frames: int, steps: int, guidance: float, height: int, width: int, device: str,
             image=None, on_step: Callable[[int], None] = lambda k: None, decode: bool = True) -> np.ndarray | None:
    """The one pipeline call (denoise and decode); returns float frames in [0, 1] shaped
    (frames, height, width, 3). The family adds its own arguments (CogVideoX: dynamic CFG). With
    `decode` off (a worker that only denoises: processing/parallel.py) it stops at the latents: None."""
    def step_end(_pipe, index, _timestep, tensors):
        on_step(index + 1)
        return tensors

    from processing import noise

    kwargs = {"image": image} if mode == "i2v" else {}
    generator = seed_generator(seed)
    # The scheduler's noise is drawn ahead, beside the GPU's step, and is the same noise (processing/noise.py).
    with noise.prefetched(pipe, generator) as prefetcher:
        result = pipe(
            prompt=prompt, negative_prompt=negative_prompt, height=height, width=width,
            num_frames=frames, num_inference_steps=steps, guidance_scale=guidance,
            generator=generator, **family_of(preset).call_arguments(preset, mode),
            output_type="np" if decode else "latent", callback_on_step_end=step_end,
            max_sequence_length=preset.max_text_tokens, **kwargs,
        )
    # metadata.json `runtime.noise_draws`: how the draws were served (the last call's, on a resident pipeline).
    pipe.videobot_noise = None if prefetcher is None else prefetcher.counts()
    if not decode:
        return None
    video = np.asarray(result.frames[0], dtype=np.float32)
    if video.shape[0] < frames:
        raise RuntimeError(f"pipeline returned {video.shape[0]} frames, expected {frames}")
    return video[:frames]


READ_AHEAD_CHUNK = 64 * 1024**2
READ_AHEAD_THREADS = 8


def read_ahead(weights: Path, threads: int = READ_AHEAD_THREADS) -> int:
    """Reads every safetensors file under `weights` once, in parallel ranges, so the loader that
    follows finds them in the page cache (a disk serves parallel reads faster than one stream).
    Returns the bytes read; files that vanish or cannot be read are left to the loader."""
    ranges = []
    for path in sorted(weights.rglob("*.safetensors")):
        size = path.stat().st_size
        ranges += [(path, offset, min(READ_AHEAD_CHUNK * 4, size - offset))
                   for offset in range(0, size, READ_AHEAD_CHUNK * 4)]
    local = threading.local()

    def read(item) -> int:
        path, offset, length = item
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = bytearray(READ_AHEAD_CHUNK)
        done = 0
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return 0
        try:
            view = memoryview(buffer)
            while done < length:
                got = os.preadv(fd, [view[:min(READ_AHEAD_CHUNK, length - done)]], offset + done)
                if got <= 0:
                    break
                done += got
        except OSError:
            pass
        finally:
            os.close(fd)
        return done

    if not ranges:
        return 0
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(ranges)))) as pool:
        return sum(pool.map(read, ranges))
