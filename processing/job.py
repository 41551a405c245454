"""The job: parse the CLI, validate job.json against the preset, run the pipeline once, write the outputs."""
from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from processing import presets as presets_module
from processing.errors import JobError
from processing.images import FITS
from processing.limits import LIMITS
from processing.progress import Observer, Progress, write_json_atomic

log = logging.getLogger("processing")

MODES = ("t2v", "i2v")
DEVICES = ("auto", "cpu", "cuda")
MEMORY_PLAN_CHOICES = ("auto", "none", "model", "sequential")
SPEEDS = ("lossless", "fast", "stock")  # processing.optimize.SPEEDS, kept here so --help needs no torch
LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_SEED = LIMITS.seed_max  # limits.json, shared with the bot
MAX_PROMPT_CHARS = LIMITS.max_prompt_chars
MAX_FPS = 60
OUTPUT_FILES = ("progress.json", "video.mp4", "poster.jpg", "metadata.json", "error.json")
SAGEMAKER_OUTPUT = Path("/opt/ml/output")


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


@dataclass(frozen=True)
class Job:
    """A validated job.json: every field filled, every value allowed by the preset."""
    id: str
    mode: str
    model: str
    prompt: str
    negative_prompt: str
    seed: int
    frames: int
    fps: int
    steps: int
    guidance: float
    height: int
    width: int
    image: Path | None
    image_fit: str


COMMANDS = ("run", "serve", "probe", "stage")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m processing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the job in --input-dir (the default command)")
    run.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input"))
    run.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    serve = commands.add_parser("serve", help="keep the pipeline loaded and run the jobs named on stdin, "
                                              "one at a time (docs/processing.md, Resident worker)")
    for sub in (run, serve):  # how to run a job: the same for one job and for a resident worker
        sub.add_argument("--models-dir", type=Path, default=Path("/opt/ml/processing/models"))
        sub.add_argument("--allow-download", action="store_true",
                         help="fetch missing weights from the Hugging Face Hub")
        sub.add_argument("--device", default="auto", choices=DEVICES)
        sub.add_argument("--memory-plan", default="auto", choices=MEMORY_PLAN_CHOICES)
        sub.add_argument("--image-fit", default=None, choices=FITS,
                         help="override job.json's image_fit (default: job.json's, else crop)")
        sub.add_argument("--speed", default="lossless", choices=SPEEDS,
                         help="lossless: compiled, output within bf16 rounding of stock diffusers; "
                              "fast: also fp8 and step caching (lossy); stock: plain diffusers")

    commands.add_parser("probe", help="print this machine's GPU as one JSON line")

    stage = commands.add_parser("stage", help="download a preset's weights into DEST/PRESET")
    stage.add_argument("--model", required=True)
    stage.add_argument("--dest", type=Path, required=True)
    stage.add_argument("--compile-cache-only", action="store_true",
                       help="weights already in DEST/PRESET: only add the compile cache (needs a GPU)")

    for sub in commands.choices.values():
        sub.add_argument("--log-level", default="info", choices=LOG_LEVELS)

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["run", *argv]  # `run` is the default command
    return parser.parse_args(argv)


# --- job.json validation -------------------------------------------------------------

def _invalid(message: str) -> JobError:
    return JobError("INVALID_JOB", message, retryable=False)


def _integer(raw: dict, key: str, default: int) -> int:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        raise _invalid(f"'{key}' must be a whole number; got {value!r}.")
    return int(value)


def _number(raw: dict, key: str, default: float) -> float:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(f"'{key}' must be a number; got {value!r}.")
    return float(value)


def _text(raw: dict, key: str, default: str) -> str:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _invalid(f"'{key}' must be text.")
    return value


def _fmt(value: float) -> str:
    return f"{value:g}"


def validate_job(raw: object, input_dir: Path, presets: presets_module.Presets,
                 image_fit_override: str | None = None) -> tuple[Job, presets_module.Preset]:
    if not isinstance(raw, dict):
        raise _invalid("job.json must be a JSON object.")

    model = _text(raw, "model", presets.default) or presets.default
    preset = presets.get(model)
    if preset is None:
        raise JobError("UNKNOWN_MODEL",
                       f"Unknown model {model!r}; choose one of: {', '.join(presets.names())}.")

    prompt = _text(raw, "prompt", "").strip()
    if not prompt:
        raise _invalid("The prompt is empty; describe the video you want.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise _invalid(f"The prompt is too long ({len(prompt)} characters; at most {MAX_PROMPT_CHARS}).")

    mode = _text(raw, "mode", preset.modes[0])
    if mode not in MODES:
        raise _invalid(f"'mode' must be t2v or i2v; got {mode!r}.")
    if mode not in preset.modes:
        raise _invalid(f"{preset.label} does not do {mode}; it supports {', '.join(preset.modes)}.")

    frames = _integer(raw, "frames", preset.frames.default)
    if not preset.frames.allows(frames):
        raise _invalid(f"{preset.label} needs {preset.frames.describe()}; got {frames}.")

    steps = _integer(raw, "steps", int(preset.steps.default))
    if not preset.steps.min <= steps <= preset.steps.max:
        raise _invalid(f"{preset.label} needs between {_fmt(preset.steps.min)} and "
                       f"{_fmt(preset.steps.max)} steps; got {steps}.")

    guidance = _number(raw, "guidance", preset.guidance.default)
    if not preset.guidance.min <= guidance <= preset.guidance.max:
        raise _invalid(f"{preset.label} needs guidance between {_fmt(preset.guidance.min)} and "
                       f"{_fmt(preset.guidance.max)}; got {_fmt(guidance)}.")

    default_height, default_width = preset.sizes[0]
    height = _integer(raw, "height", default_height)
    width = _integer(raw, "width", default_width)
    if (height, width) not in preset.sizes:
        raise _invalid(f"{preset.label} makes {preset.describe_sizes()} video; got {width}x{height}.")

    fps = _integer(raw, "fps", preset.fps)
    if not 1 <= fps <= MAX_FPS:
        raise _invalid(f"'fps' must be between 1 and {MAX_FPS}; got {fps}.")

    seed = _integer(raw, "seed", -1)
    if seed == -1 and raw.get("seed") is None:
        seed = LIMITS.random_seed()
    if not LIMITS.seed_min <= seed <= MAX_SEED:
        raise _invalid(f"'seed' must be between {LIMITS.seed_min} and {MAX_SEED}; got {seed}.")

    image_fit = image_fit_override or _text(raw, "image_fit", "crop")
    if image_fit not in FITS:
        raise _invalid(f"'image_fit' must be crop or pad; got {image_fit!r}.")

    image = None
    if mode == "i2v":
        name = _text(raw, "image", "")
        if not name:
            raise _invalid("Image-to-video needs an image; attach one.")
        image = (input_dir / name).resolve()
        if input_dir.resolve() not in image.parents:
            raise _invalid("'image' must be a file name inside the job's input.")

    job = Job(id=_text(raw, "id", "unnamed"), mode=mode, model=preset.name, prompt=prompt,
              negative_prompt=_text(raw, "negative_prompt", ""), seed=seed, frames=frames, fps=fps,
              steps=steps, guidance=guidance, height=height, width=width, image=image,
              image_fit=image_fit)
    return job, preset


def load_job(settings: Settings, presets: presets_module.Presets) -> tuple[Job, presets_module.Preset]:
    path = settings.input_dir / "job.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _invalid(f"No job.json was found in {settings.input_dir}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _invalid(f"job.json is not valid JSON ({exc.__class__.__name__}).") from exc
    return validate_job(raw, settings.input_dir, presets, settings.image_fit)


# --- running -------------------------------------------------------------------------

def run(job: Job, preset: presets_module.Preset, settings: Settings, *,
        observer: Observer | None = None, pipelines=None) -> Path:
    """Builds the pipeline once, calls it once, writes video.mp4, poster.jpg, metadata.json.

    `pipelines` (processing.serve.ResidentPipelines) keeps a built pipeline between jobs; without
    it the pipeline is built for this job only."""
    from processing import images, pipeline, video

    import processing

    out = settings.output_dir
    progress = Progress(out, observer=observer)
    progress.phase("loading")
    started = time.monotonic()
    startup_s = round(started - processing.PROCESS_STARTED, 3)  # interpreter and job imports before this
    loading_at: dict = {}

    start_image = None
    if job.mode == "i2v":
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

    try:
        from processing.optimize import compile_cache_dir

        warm_shape = warm_shape_for(job, preset)
        def build():
            return pipeline.build_pipeline(preset, job.mode, weights, device, dtype, plan, speed=settings.speed,
                                           compile_cache_dir=compile_cache_dir(settings.models_dir, preset.name),
                                           warm_shape=warm_shape)

        load_began = time.monotonic()
        if pipelines is None:
            pipe, resident = build(), False
        else:
            pipe, resident = pipelines.get((preset.name, job.mode, weights, device, dtype, plan, settings.speed), build)
        load_s = round(time.monotonic() - load_began, 3)
        scheduler_name = type(pipe.scheduler).__name__

        progress.phase("denoising", total=job.steps)

        def on_step(k: int) -> None:
            progress.step(k)
            if k == job.steps:
                progress.phase("decoding")

        frames = pipeline.generate(
            pipe, preset=preset, mode=job.mode, prompt=job.prompt, negative_prompt=job.negative_prompt,
            seed=job.seed, frames=job.frames, steps=job.steps, guidance=job.guidance,
            height=job.height, width=job.width, device=device, image=start_image, on_step=on_step,
        )
        if progress.phase_name == "denoising":  # a scheduler that ran fewer callbacks than steps
            progress.phase("decoding")
    except torch.cuda.OutOfMemoryError as exc:
        raise out_of_memory(plan) from exc
    except RuntimeError as exc:
        if device == "cuda" and "out of memory" in str(exc).lower():
            raise out_of_memory(plan) from exc
        raise
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None

    progress.phase("encoding")
    video_path = out / "video.mp4"
    video.encode_mp4(frames, video_path, job.fps)
    video.write_poster(frames, out / "poster.jpg")

    import diffusers
    import transformers

    metadata = {
        "job": {**asdict(job), "image": job.image.name if job.image else None},
        "model": {"preset": preset.name, "label": preset.label, "test_only": preset.test_only,
                  "family": preset.family, "weights": weights or "built in code (random)",
                  "dtype": dtype, "scheduler": scheduler_name, "dynamic_cfg": preset.dynamic_cfg,
                  "max_text_tokens": preset.max_text_tokens},
        "runtime": {"device": device, "device_name": torch.cuda.get_device_name(0) if device == "cuda" else
                    platform.processor() or platform.machine(),
                    "memory_plan": plan, "memory_plan_requested": settings.memory_plan,
                    "free_gpu_gib_at_start": round(free_gib, 2) if free_gib is not None else None,
                    "peak_gpu_memory_bytes": peak, "speed": settings.speed,
                    "startup_s": startup_s, "loading_at_s": loading_at,
                    "resident": resident, "load_s": load_s,
                    "optimizations": pipeline.optimizations(pipe)},
        "timings_s": {**progress.timings(), "total": round(time.monotonic() - started, 3)},
        "phases": list(progress.timings()) + ["done"],
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "transformers": transformers.__version__, "python": platform.python_version()},
        "output": {"video": "video.mp4", "poster": "poster.jpg", "frames": int(frames.shape[0]),
                   "fps": job.fps, "height": int(frames.shape[1]), "width": int(frames.shape[2]),
                   "codec": "h264", "pix_fmt": "yuv420p"},
    }
    write_json_atomic(out / "metadata.json", metadata)
    progress.phase("done")  # last: once the bot sees done, every output file is in place
    return video_path


def out_of_memory(plan: str) -> JobError:
    return JobError("GPU_OUT_OF_MEMORY",
                    f"The GPU ran out of memory (memory plan '{plan}'); try fewer frames or try again.",
                    retryable=True)


# --- entry points ----------------------------------------------------------------------

def report_failure(error: JobError, output_dir: Path, sagemaker_output: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(output_dir / "error.json", error.to_json())
    except OSError:
        log.exception("could not write error.json")
    if sagemaker_output.is_dir():
        try:
            (sagemaker_output / "message").write_text(error.message, encoding="utf-8")
        except OSError:
            log.exception("could not write the SageMaker failure message")


def clear_outputs(output_dir: Path) -> None:
    """A rerun into the same dir must never leave a stale video next to a new error."""
    for name in OUTPUT_FILES:
        (output_dir / name).unlink(missing_ok=True)


def command_run(args: argparse.Namespace, observer: Observer | None, sagemaker_output: Path) -> int:
    settings = Settings(input_dir=args.input_dir, output_dir=args.output_dir, models_dir=args.models_dir,
                        allow_download=args.allow_download, device=args.device,
                        memory_plan=args.memory_plan, image_fit=args.image_fit, speed=args.speed)
    return run_job(settings, observer, sagemaker_output)


def run_job(settings: Settings, observer: Observer | None, sagemaker_output: Path, *, pipelines=None) -> int:
    """One job from its input dir to its outputs; returns the exit code. Cancelled propagates."""
    try:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
        clear_outputs(settings.output_dir)
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


def command_probe() -> int:
    from processing.pipeline import probe_device

    print(json.dumps(probe_device()), flush=True)
    return 0


def command_stage(args: argparse.Namespace) -> int:
    presets = presets_module.load_presets()
    preset = presets.get(args.model)
    if preset is None:
        log.error("unknown model %r; choose one of: %s", args.model, ", ".join(presets.names()))
        return 2
    if preset.hf_id is None:
        log.info("%s is built in code; nothing to stage", preset.name)
        return 0
    dest = args.dest / preset.name
    if not args.compile_cache_only:
        from huggingface_hub import snapshot_download

        log.info("downloading %s into %s", preset.hf_id, dest)
        snapshot_download(repo_id=preset.hf_id, local_dir=dest)
    stage_compile_cache(preset, dest)
    log.info("staged %s; upload %s to the model cache", preset.name, dest)
    return 0


def stage_compile_cache(preset: presets_module.Preset, weights: Path, device: str | None = None,
                        plans: list | None = None) -> list[dict]:
    """On a GPU, compiles the transformer block for the preset's default job (lossless and fast)
    into `<weights>/compile-cache/`, so the compile cache travels with the staged weights and the
    first job on a fresh container loads it instead of compiling. Compiled code fits one GPU type
    and torch version (the file name says which), so stage on the instance type the jobs use. No
    GPU, or a failure: nothing is written and jobs compile as before; staging never fails for it."""
    import torch

    from processing import optimize, pipeline

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    plans = compile_cache_plans(device) if plans is None else plans
    config_file = weights / "transformer" / "config.json"
    if not plans or not config_file.is_file():
        log.info("compile cache: not staged (%s)", "no transformer config" if plans else "nothing compiles here")
        return []
    # The default job.json of this preset (an i2v preset's needs an image name; nothing opens it here).
    job, _ = validate_job({"model": preset.name, "prompt": "compile cache", "image": "image.png"}, weights,
                          presets_module.load_presets())
    shape = warm_shape_for(job, preset)
    dtype = getattr(torch, pipeline.resolve_dtype(preset, device))
    results = []
    for speed, options in plans:
        result = optimize.Prewarm(json.loads(config_file.read_text()), options, shape, dtype=dtype, device=device,
                                  compile_cache_dir=optimize.compile_cache_dir(weights.parent, preset.name),
                                  label=preset.name).start().wait()
        results.append({"speed": speed, **asdict(result)})
        log.info("compile cache for %s %s: %s", preset.name, speed,
                 result.cache_file if result.cache_saved else f"not saved ({result.error or result.compile_error})")
    return results


def compile_cache_plans(device: str) -> list:
    """(speed, options) for each speed whose blocks compile on this device: none on CPU."""
    from processing import optimize

    plans = [(speed, optimize.options_for(speed, device, "none")) for speed in ("lossless", "fast")]
    return [(speed, options) for speed, options in plans if options.compile_blocks]


def warm_shape_for(job: Job, preset: presets_module.Preset):
    """The transformer call the job makes (its compiled graph and compile-cache file depend on it)."""
    from processing.optimize import WarmShape

    return WarmShape(batch=2 if job.guidance > 1 else 1, frames=job.frames, height=job.height, width=job.width,
                     text_tokens=preset.max_text_tokens)

def main(argv: list[str] | None = None, *, observer: Observer | None = None,
         sagemaker_output: Path = SAGEMAKER_OUTPUT) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "probe":
        return command_probe()
    if args.command == "stage":
        return command_stage(args)
    if args.command == "serve":
        from processing.serve import command_serve

        return command_serve(args)
    return command_run(args, observer, sagemaker_output)
