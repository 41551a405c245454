"""`python -m processing stage`: a preset's weights (and, on a GPU, its compile cache) into DEST/PRESET."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

from processing import presets as presets_module
from processing.validation import validate_job

log = logging.getLogger("processing")


def command_stage(model: str, dest_root: Path, compile_cache_only: bool = False) -> int:
    presets = presets_module.load_presets()
    preset = presets.get(model)
    if preset is None:
        log.error("unknown model %r; choose one of: %s", model, ", ".join(presets.names()))
        return 2
    if preset.hf_id is None:
        log.info("%s is built in code; nothing to stage", preset.name)
        return 0
    dest = dest_root / preset.name
    if not compile_cache_only:
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
    from processing.families import family_of
    from processing.job import warm_shape_for

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cache_dir = optimize.compile_cache_dir(weights.parent, preset.name)
    optimize.keep_fa4_kernels(cache_dir, device)
    plans = compile_cache_plans(device) if plans is None else plans
    config_file = weights / "transformer" / "config.json"
    family = family_of(preset)
    if not plans or not config_file.is_file() or not family.prewarm:
        why = ("nothing compiles here" if not plans else "no transformer config" if not config_file.is_file()
               else f"the {family.name} family compiles on its first call")
        log.info("compile cache: not staged (%s)", why)
        return []
    # The default job.json of this preset (an i2v preset's needs an image name; nothing opens it here).
    job, _ = validate_job({"model": preset.name, "prompt": "compile cache", "image": "image.png"}, weights,
                          presets_module.load_presets())
    shape = warm_shape_for(job, preset)
    dtype = getattr(torch, pipeline.resolve_dtype(preset, device))
    results = []
    for speed, options in plans:
        result = optimize.Prewarm(json.loads(config_file.read_text()), options, shape, dtype=dtype, device=device,
                                  compile_cache_dir=cache_dir,
                                  label=preset.name, family=family).start().wait()
        results.append({"speed": speed, **asdict(result)})
        log.info("compile cache for %s %s: %s", preset.name, speed,
                 result.cache_file if result.cache_saved else f"not saved ({result.error or result.compile_error})")
    return results


def compile_cache_plans(device: str) -> list:
    """(speed, options) for each speed whose blocks compile on this device: none on CPU."""
    from processing import optimize

    plans = [(speed, optimize.options_for(speed, device, "none")) for speed in ("lossless", "fast")]
    return [(speed, options) for speed, options in plans if options.compile_blocks]
