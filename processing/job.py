"""The run: one job from its input dir to its outputs, in numbered steps.

    1. validate  job.json against its preset            (validation.py, contract.py)
    2. load      the start image, the weights, the pipeline (pipeline.py; kept by a resident worker)
    3. generate  one pipeline call                       (pipeline.generate)
    4. encode    video.mp4 and poster.jpg                (video.py)
    5. write     metadata.json, then progress "done"     (contract.py)

`run_job` is what `python -m processing run` (cli.py) and the resident worker (serve.py) call.
"""
from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from processing import combine, extend
from processing import parallel
from processing import presets as presets_module
from processing.contract import (OUTPUT_FILES, SAGEMAKER_OUTPUT, clear_outputs, read_job_file,  # noqa: F401
                                 report_failure, write_metadata)
from processing.errors import JobError
from processing.progress import Observer, Progress
from processing.validation import Job, validate_job

log = logging.getLogger("processing")

# For the bench only (bench.py, outside the image): where to save the float frames before H.264, so two runs (1 and 2
# GPUs) can be compared without the encoder's decisions in between. Unset in every real job.
BENCH_FRAMES_ENV = "VIDEOBOT_BENCH_FRAMES"


class Cancelled(Exception):
    """Raised by a progress observer to stop the job at its next phase or step (the serve worker's cancel)."""


@dataclass(frozen=True)
class Settings:
    """How to run (CLI flags), as opposed to what to make (job.json)."""
    input_dir: Path
    output_dir: Path
    models_dir: Path
    allow_download: bool
    device: str
    memory_plan: str
    image_fit: str | None
    speed: str = "lossless"


@dataclass
class Loaded:
    """What step 2 leaves for the others: the pipeline and how it was placed."""
    pipe: object
    weights: str | None
    device: str
    dtype: str
    plan: str
    free_gib: float | None
    resident: bool
    load_s: float
    image: object  # the prepared start image (i2v) or None


def run_job(settings: Settings, observer: Observer | None, sagemaker_output: Path, *, pipelines=None) -> int:
    """One job from its input dir to its outputs; returns the exit code. Cancelled propagates."""
    try:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        clear_outputs(settings.output_dir)
        if combine.is_combine_job(settings.input_dir):  # no model: clips joined by stream copy (combine.py)
            path = combine.run(settings.input_dir, settings.output_dir, observer=observer)
        else:
            job, preset = load_job(settings, presets_module.load_presets())
            path = run(job, preset, settings, observer=observer, pipelines=pipelines)
    except Cancelled:
        raise
    except JobError as error:
        log.error("job failed: %s %s", error.code, error.message, exc_info=error.__cause__ is not None)
        report_failure(error, settings.output_dir, sagemaker_output)
        return error.exit_code
    except Exception:
        log.exception("job failed unexpectedly")
        error = JobError("INTERNAL_ERROR", "The video job failed unexpectedly; please try again later.")
        report_failure(error, settings.output_dir, sagemaker_output)
        return error.exit_code
    log.info("wrote %s", path)
    return 0


# 1. validate ---------------------------------------------------------------------------------

def load_job(settings: Settings, presets: presets_module.Presets) -> tuple[Job, presets_module.Preset]:
    return validate_job(read_job_file(settings.input_dir), settings.input_dir, presets, settings.image_fit)


def run(job: Job, preset: presets_module.Preset, settings: Settings, *,
        observer: Observer | None = None, pipelines=None) -> Path:
    """Steps 2-5 for a validated job: builds the pipeline once (or takes the resident one from
    `pipelines`, processing.serve.ResidentPipelines), calls it once, writes the outputs."""
    import processing

    progress = Progress(settings.output_dir, observer=observer)
    progress.phase("loading")
    started = time.monotonic()
    startup_s = round(started - processing.PROCESS_STARTED, 3)  # interpreter and job imports before this
    loading_at: dict = {}

    loaded = load(job, preset, settings, pipelines, loading_at, started)
    frames, peak = generate(job, preset, loaded, progress)
    if not parallel.writes_outputs():
        return None  # another worker of this job writes the outputs (processing/parallel.py)
    joined = None
    if job.parent_video is not None:  # Extend: the clip, then the continuation from its second frame
        video_path, joined = extend.encode_joined(frames, job.parent_video, job.fps, settings.output_dir, progress)
    else:
        video_path = encode(frames, job, settings.output_dir, progress)
    write(job, preset, settings, loaded, frames, peak, progress,
          {"startup_s": startup_s, "loading_at_s": loading_at, "started": started}, joined_frames=joined)
    return video_path


# 2. load -------------------------------------------------------------------------------------

def load(job: Job, preset: presets_module.Preset, settings: Settings, pipelines, loading_at: dict,
         started: float) -> Loaded:
    from processing import images, pipeline

    start_image = None
    if job.parent_video is not None:  # Extend: the clip's last frame (extend.py)
        start_image = extend.last_frame(job.parent_video, job.height, job.width, job.fps)
    elif job.mode == "i2v":
        start_image = images.prepare_image(job.image, job.height, job.width, job.image_fit)

    weights = pipeline.resolve_weights(preset, settings.models_dir, settings.allow_download)

    import torch

    loading_at["torch_imported"] = round(time.monotonic() - started, 3)
    device = pipeline.resolve_device(settings.device)
    dtype = pipeline.resolve_dtype(preset, device)
    free_gib = pipeline.free_gpu_gib() if device == "cuda" else None
    if free_gib is not None and pipelines is not None:
        free_gib += pipelines.held_gib()  # a resident pipeline's memory is this job's to plan with
    loading_at["device_ready"] = round(time.monotonic() - started, 3)
    plan = pipeline.choose_memory_plan(settings.memory_plan, device, preset, free_gib, job.frames)
    log.info("job %s: %s %s, %d frames, %d steps, seed %d on %s (%s, memory plan %s)",
             job.id, preset.name, job.mode, job.frames, job.steps, job.seed, device, dtype, plan)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    from processing.optimize import compile_cache_dir

    warm_shape = parallel.per_worker(warm_shape_for(job, preset))

    def build():
        pipe = pipeline.build_pipeline(preset, job.mode, weights, device, dtype, plan, speed=settings.speed,
                                       compile_cache_dir=compile_cache_dir(settings.models_dir, preset.name),
                                       warm_shape=warm_shape)
        parallel.attach(pipe)  # several workers: each computes its share of every transformer call
        return pipe

    load_began = time.monotonic()
    with out_of_memory_as_job_error(device, plan):
        if pipelines is None:
            pipe, resident = build(), False
        else:
            pipe, resident = pipelines.get((preset.name, job.mode, weights, device, dtype, plan, settings.speed),
                                           build)
    return Loaded(pipe=pipe, weights=weights, device=device, dtype=dtype, plan=plan, free_gib=free_gib,
                  resident=resident, load_s=round(time.monotonic() - load_began, 3), image=start_image)


# 3. generate ---------------------------------------------------------------------------------

def generate(job: Job, preset: presets_module.Preset, loaded: Loaded, progress: Progress):
    """Denoises and decodes; returns (float frames (N, H, W, 3) in [0, 1], peak GPU bytes or None)."""
    import torch

    from processing import pipeline

    progress.phase("denoising", total=job.steps)

    def on_step(k: int) -> None:
        progress.step(k)
        if k == job.steps:
            progress.phase("decoding")

    with out_of_memory_as_job_error(loaded.device, loaded.plan):
        frames = pipeline.generate(
            loaded.pipe, preset=preset, mode=job.mode, prompt=job.prompt, negative_prompt=job.negative_prompt,
            seed=job.seed, frames=job.frames, steps=job.steps, guidance=job.guidance,
            height=job.height, width=job.width, device=loaded.device, image=loaded.image, on_step=on_step,
            decode=parallel.writes_outputs(),
        )
    if progress.phase_name == "denoising":  # a scheduler that ran fewer callbacks than steps
        progress.phase("decoding")
    peak = torch.cuda.max_memory_allocated() if loaded.device == "cuda" else None
    parallel.share_peak(peak)
    return frames, peak


class out_of_memory_as_job_error:
    """GPU out-of-memory inside the block becomes GPU_OUT_OF_MEMORY (retryable, names the plan)."""

    def __init__(self, device: str, plan: str):
        self.device, self.plan = device, plan

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, _tb):
        if exc is None:
            return False
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError) or \
                (isinstance(exc, RuntimeError) and self.device == "cuda" and "out of memory" in str(exc).lower()):
            raise out_of_memory(self.plan) from exc
        return False


def out_of_memory(plan: str) -> JobError:
    return JobError("GPU_OUT_OF_MEMORY",
                    f"The GPU ran out of memory (memory plan '{plan}'); try fewer frames or try again.",
                    retryable=True)


# 4. encode -----------------------------------------------------------------------------------

def encode(frames, job: Job, output_dir: Path, progress: Progress) -> Path:
    from processing import video

    progress.phase("encoding")
    if os.environ.get(BENCH_FRAMES_ENV):
        import numpy as np

        np.save(os.environ[BENCH_FRAMES_ENV], np.asarray(frames, dtype=np.float16))
    video_path = output_dir / "video.mp4"
    video.encode_mp4(frames, video_path, job.fps)
    video.write_poster(frames, output_dir / "poster.jpg")
    return video_path


# 5. write ------------------------------------------------------------------------------------

def write(job: Job, preset: presets_module.Preset, settings: Settings, loaded: Loaded, frames, peak,
          progress: Progress, clock: dict, *, joined_frames: int | None = None) -> None:
    """metadata.json (all parameters used, timings, peak memory), then the "done" phase: once the
    bot sees done, every output file is in place."""
    import diffusers
    import torch
    import transformers

    from processing import pipeline

    metadata = {
        "job": {**asdict(job), "image": job.image.name if job.image else None,
                "parent_video": job.parent_video.name if job.parent_video else None},
        "model": {"preset": preset.name, "label": preset.label, "test_only": preset.test_only,
                  "family": preset.family, "generation": preset.generation, "weights": loaded.weights or "built in code (random)",
                  "dtype": loaded.dtype, "scheduler": type(loaded.pipe.scheduler).__name__,
                  "dynamic_cfg": preset.dynamic_cfg, "max_text_tokens": preset.max_text_tokens},
        "runtime": {"device": loaded.device,
                    "device_name": torch.cuda.get_device_name(0) if loaded.device == "cuda" else
                    platform.processor() or platform.machine(),
                    "memory_plan": loaded.plan, "memory_plan_requested": settings.memory_plan,
                    "free_gpu_gib_at_start": round(loaded.free_gib, 2) if loaded.free_gib is not None else None,
                    "peak_gpu_memory_bytes": peak, "speed": settings.speed,
                    "startup_s": clock["startup_s"], "loading_at_s": clock["loading_at_s"],
                    "resident": loaded.resident, "load_s": loaded.load_s, "denoise_steps_s": progress.step_times(),
                    "noise_draws": getattr(loaded.pipe, "videobot_noise", None),
                    "optimizations": pipeline.optimizations(loaded.pipe)},
        "parallel": parallel.describe(),
        "timings_s": {**progress.timings(), "total": round(time.monotonic() - clock["started"], 3)},
        "phases": list(progress.timings()) + ["done"],
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
        **({"extend": {"continuation_frames": int(frames.shape[0]), "joined_frames": joined_frames}}
           if joined_frames is not None else {}),
        "output": {"video": "video.mp4", "poster": "poster.jpg",
                   "frames": joined_frames if joined_frames is not None else int(frames.shape[0]),
                   "fps": job.fps, "height": int(frames.shape[1]), "width": int(frames.shape[2]),
                   "codec": "h264", "pix_fmt": "yuv420p"},
    }
    write_metadata(settings.output_dir, metadata)
    progress.phase("done")


def warm_shape_for(job: Job, preset: presets_module.Preset):
    """The transformer call the job makes (its compiled graph and compile-cache file depend on it)."""
    from processing.optimize import WarmShape

    return WarmShape(batch=2 if job.guidance > 1 else 1, frames=job.frames, height=job.height, width=job.width,
                     text_tokens=preset.max_text_tokens)
