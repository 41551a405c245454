"""job.json against its preset: every field filled, every value allowed, or one sentence saying what is wrong."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from processing import presets as presets_module
from processing.contract import invalid
from processing.errors import JobError
from processing.images import FITS
from processing.limits import LIMITS

MODES = ("t2v", "i2v")
MAX_SEED = LIMITS.seed_max  # limits.json, shared with the bot
MAX_PROMPT_CHARS = LIMITS.max_prompt_chars
MAX_FPS = 60


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
    parent_video: Path | None = None  # Extend: the clip whose last frame is the start image (processing/extend.py)


def _integer(raw: dict, key: str, default: int) -> int:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        raise invalid(f"'{key}' must be a whole number; got {value!r}.")
    return int(value)


def _number(raw: dict, key: str, default: float) -> float:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise invalid(f"'{key}' must be a number; got {value!r}.")
    return float(value)


def _text(raw: dict, key: str, default: str) -> str:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be text.")
    return value


def _fmt(value: float) -> str:
    return f"{value:g}"


def validate_job(raw: object, input_dir: Path, presets: presets_module.Presets,
                 image_fit_override: str | None = None) -> tuple[Job, presets_module.Preset]:
    if not isinstance(raw, dict):
        raise invalid("job.json must be a JSON object.")

    model = _text(raw, "model", presets.default) or presets.default
    preset = presets.get(model)
    if preset is None:
        raise JobError("UNKNOWN_MODEL",
                       f"Unknown model {model!r}; choose one of: {', '.join(presets.names())}.")

    prompt = _text(raw, "prompt", "").strip()
    if not prompt:
        raise invalid("The prompt is empty; describe the video you want.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise invalid(f"The prompt is too long ({len(prompt)} characters; at most {MAX_PROMPT_CHARS}).")

    mode = _text(raw, "mode", preset.modes[0])
    if mode not in MODES:
        raise invalid(f"'mode' must be t2v or i2v; got {mode!r}.")
    if mode not in preset.modes:
        raise invalid(f"{preset.label} does not do {mode}; it supports {', '.join(preset.modes)}.")

    frames = _integer(raw, "frames", preset.frames.default)
    if not preset.frames.allows(frames):
        raise invalid(f"{preset.label} needs {preset.frames.describe()}; got {frames}.")

    steps = _integer(raw, "steps", int(preset.steps.default))
    if not preset.steps.min <= steps <= preset.steps.max:
        raise invalid(f"{preset.label} needs between {_fmt(preset.steps.min)} and "
                      f"{_fmt(preset.steps.max)} steps; got {steps}.")

    guidance = _number(raw, "guidance", preset.guidance.default)
    if not preset.guidance.min <= guidance <= preset.guidance.max:
        raise invalid(f"{preset.label} needs guidance between {_fmt(preset.guidance.min)} and "
                      f"{_fmt(preset.guidance.max)}; got {_fmt(guidance)}.")

    default_height, default_width = preset.sizes[0]
    height = _integer(raw, "height", default_height)
    width = _integer(raw, "width", default_width)
    if (height, width) not in preset.sizes:
        raise invalid(f"{preset.label} makes {preset.describe_sizes()} video; got {width}x{height}.")

    fps = _integer(raw, "fps", preset.fps)
    if not 1 <= fps <= MAX_FPS:
        raise invalid(f"'fps' must be between 1 and {MAX_FPS}; got {fps}.")

    seed = _integer(raw, "seed", -1)
    if seed == -1 and raw.get("seed") is None:
        seed = LIMITS.random_seed()
    if not LIMITS.seed_min <= seed <= MAX_SEED:
        raise invalid(f"'seed' must be between {LIMITS.seed_min} and {MAX_SEED}; got {seed}.")

    image_fit = image_fit_override or _text(raw, "image_fit", "crop")
    if image_fit not in FITS:
        raise invalid(f"'image_fit' must be crop or pad; got {image_fit!r}.")

    image = None
    parent_video = None
    if mode == "i2v" and _text(raw, "parent_video", ""):
        parent_video = (input_dir / _text(raw, "parent_video", "")).resolve()
        if input_dir.resolve() not in parent_video.parents:
            raise invalid("'parent_video' must be a file name inside the job's input.")
    elif mode == "i2v":
        name = _text(raw, "image", "")
        if not name:
            raise invalid("Image-to-video needs an image; attach one.")
        image = (input_dir / name).resolve()
        if input_dir.resolve() not in image.parents:
            raise invalid("'image' must be a file name inside the job's input.")

    negative = _text(raw, "negative_prompt", "")
    if not negative.strip():  # none given: the family's recommended one (presets.json), often none
        negative = preset.negative_prompt

    job = Job(id=_text(raw, "id", "unnamed"), mode=mode, model=preset.name, prompt=prompt,
              negative_prompt=negative, seed=seed, frames=frames, fps=fps,
              steps=steps, guidance=guidance, height=height, width=width, image=image,
              image_fit=image_fit, parent_video=parent_video)
    return job, preset
