"""Loads a saved pipeline in two halves, so that the slow half can run beside the prewarm's compile.

diffusers' and transformers' `from_pretrained` both (1) build the model with its parameters on the
meta device while torch's process-wide default dtype is set to the load dtype, then (2) read the
safetensors shards and put every tensor in place, cast. Half 1 takes well under a second but
changes process-wide state that Dynamo guards on and checks while it traces, so it must not run
while the prewarm (optimize.Prewarm) compiles in its thread; half 2 is the seconds of reading and
copying, and touches nothing process-wide. `empty_pipeline` does half 1 for every model of the
pipeline before the prewarm starts, `Skeleton.fill` does half 2 while it runs
(pipeline.build_pipeline), then `Skeleton.pipeline` assembles what `from_pretrained` would have
returned.

Each half follows its library's own rules (pinned versions: diffusers 0.35.2, transformers 4.57.1):
the default dtype at construction, `no_init_weights` and accelerate's `init_empty_weights` (the
parameters are empty, buffers are real), the cast of each tensor (diffusers: to the load dtype;
transformers: to the dtype the model was built in), the modules kept in float32, tied weights,
`eval()`. processing/tests/test_loader.py checks that the result equals `from_pretrained`'s,
tensor for tensor, for the CogVideoX models in bfloat16 and float16. Anything this loader does not
know (a key the model does not have, a parameter no file holds, another file layout) raises
`Unsupported`, and the caller loads with `from_pretrained` instead: never a half-loaded model.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

WEIGHTS = {"diffusers": "diffusion_pytorch_model", "transformers": "model"}


class Unsupported(Exception):
    """The saved pipeline is not one this loader reproduces exactly; use `from_pretrained`."""


@dataclass
class Model:
    name: str  # the pipeline's component name: transformer, vae, text_encoder
    library: str  # diffusers or transformers
    model: torch.nn.Module  # parameters on the meta device until `fill`
    folder: Path
    cast: dict[str, torch.dtype]  # the dtype each floating tensor is cast to


@dataclass
class Skeleton:
    pipeline_class: type
    folder: str | Path  # as the caller named it: from_pretrained records it so in the pipeline's config
    models: list[Model]
    others: dict  # tokenizer, scheduler, optional components (None)
    filled: bool = False

    def fill(self, device: str, threads: int = 8) -> None:
        """Reads every shard straight onto `device` (shards in parallel) and puts each tensor in place."""
        target = torch.device(device)
        if target.type == "cuda" and target.index is None:  # the threads below would each mean device 0
            target = torch.device("cuda", torch.cuda.current_device())
        device = str(target)
        jobs = [(m, shard) for m in self.models for shard in shards(m.folder, m.library)]
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
            list(pool.map(lambda job: _read_shard(*job, device), jobs))  # re-raises a shard's error here
        for m in self.models:
            _finish(m, device)
        self.filled = True

    def pipeline(self):
        if not self.filled:
            raise RuntimeError("fill() first")
        components = {**self.others, **{m.name: m.model for m in self.models}}
        pipe = self.pipeline_class(**components)
        pipe.register_to_config(_name_or_path=self.folder)
        return pipe


def empty_pipeline(pipeline_class: type, folder: str | Path, dtype: torch.dtype) -> Skeleton:
    """Half 1: every model of the saved pipeline built empty, the tokenizer and scheduler loaded. Changes
    torch's default dtype while it runs (as from_pretrained does): call it while nothing compiles."""
    named, folder = folder, Path(folder)
    index = json.loads((folder / "model_index.json").read_text())
    models, others = [], {}
    for name, spec in sorted(index.items()):
        if name.startswith("_"):
            continue
        library, class_name = spec
        if library is None:
            others[name] = None
            continue
        cls = getattr(importlib.import_module(library), class_name)
        if isinstance(cls, type) and issubclass(cls, torch.nn.Module):
            models.append(_empty(name, library, cls, folder / name, dtype))
        else:
            others[name] = cls.from_pretrained(folder / name)
    return Skeleton(pipeline_class, named, models, others)


def load(pipeline_class: type, folder: str | Path, dtype: torch.dtype, device: str):
    """Both halves at once (the tests' way in; a job runs them around its prewarm: pipeline.build_pipeline)."""
    skeleton = empty_pipeline(pipeline_class, folder, dtype)
    skeleton.fill(device)
    return skeleton.pipeline()


# --- half 1: the empty model ---------------------------------------------------------------

@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _empty(name: str, library: str, cls: type, folder: Path, dtype: torch.dtype) -> Model:
    import accelerate

    if library == "diffusers":
        from diffusers.models.modeling_utils import no_init_weights

        config = cls.load_config(folder)
        with _default_dtype(dtype), no_init_weights(), accelerate.init_empty_weights():
            model = cls.from_config(config)
        model.register_to_config(_name_or_path=str(folder))
        keep = cls._keep_in_fp32_modules or []
        cast = {key: torch.float32 if any(k in key.split(".") for k in keep) else dtype
                for key, tensor in model.state_dict().items() if tensor.is_floating_point()}
    elif library == "transformers":
        from transformers.modeling_utils import no_init_weights

        config = cls.config_class.from_pretrained(folder)
        config.name_or_path = str(folder)
        config.dtype = dtype  # as transformers' _get_dtype records it, sub-configs too
        for key in config.sub_configs:
            getattr(config, key).dtype = dtype
        with _default_dtype(dtype), no_init_weights(), accelerate.init_empty_weights():
            model = cls(config)
        model.tie_weights()
        keep = list(model._keep_in_fp32_modules or []) if dtype == torch.float16 else []
        if dtype in (torch.float16, torch.bfloat16):
            keep += list(getattr(model, "_keep_in_fp32_modules_strict", None) or [])
        pattern = re.compile("|".join(rf"((^|\.){k}($|\.))" for k in keep)) if keep else None
        cast = {key: torch.float32 if pattern is not None and pattern.search(key) else tensor.dtype
                for key, tensor in model.state_dict().items() if tensor.is_floating_point()}
    else:
        raise Unsupported(f"{name}: models from {library} are not loaded here")
    return Model(name, library, model, folder, cast)


# --- half 2: the tensors ----------------------------------------------------------------------

def shards(folder: Path, library: str) -> list[Path]:
    stem = WEIGHTS[library]
    index = folder / f"{stem}.safetensors.index.json"
    if index.is_file():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / n for n in names]
    single = folder / f"{stem}.safetensors"
    if single.is_file():
        return [single]
    raise Unsupported(f"{folder.name}: no {stem}.safetensors (or its index) in {folder}")


def _read_shard(m: Model, shard: Path, device: str) -> None:
    from safetensors import safe_open

    state = m.model.state_dict(keep_vars=True)
    with safe_open(str(shard), framework="pt", device=str(device)) as f:
        for key in f.keys():
            if key not in state:
                raise Unsupported(f"{m.name}: {shard.name} holds {key}, which the model does not have")
            tensor = f.get_tensor(key)
            if tuple(tensor.shape) != tuple(state[key].shape):
                raise Unsupported(f"{m.name}: {key} is {tuple(tensor.shape)} in {shard.name}, "
                                  f"{tuple(state[key].shape)} in the model")
            if tensor.is_floating_point():
                tensor = tensor.to(m.cast.get(key, tensor.dtype))
            module, _, attr = key.rpartition(".")
            # assign=True keeps the tensor (no copy into the meta one) and the parameter's requires_grad
            m.model.get_submodule(module).load_state_dict({attr: tensor}, strict=False, assign=True)


def _finish(m: Model, device: str) -> None:
    """Ties what the model ties, checks that no tensor was left empty, moves the buffers built in __init__."""
    if m.library == "transformers":
        m.model.tie_weights()
    left = [n for n, t in (*m.model.named_parameters(), *m.model.named_buffers()) if t.is_meta]
    if left:
        raise Unsupported(f"{m.name}: no file holds {', '.join(left[:5])}" + (" ..." if len(left) > 5 else ""))
    m.model.to(device)  # the buffers built in __init__ (the parameters are there already)
    m.model.eval()
