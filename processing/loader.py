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

Half 2 needs neither diffusers nor transformers: `Reader` reads every model's safetensors shards of the
saved pipeline straight onto the device (its own reading of the documented file layout: an 8-byte header
length, a JSON header, then the tensors' bytes), in threads that import nothing. A job starts it right
after `import torch`, so the seconds of reading pass beside the seconds of importing; `Skeleton.fill`
then only puts the tensors it was given in place. On a GPU each thread reads large ranges of the file into
pinned host buffers and copies them on a stream of its own (safetensors' own loader copies tensor by tensor
from pageable memory, 3.5 GB/s on an H200 host).
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
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

    def fill(self, device: str, tensors: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
        """Puts every model's tensors in place: `tensors` (a `Reader`'s result, read onto `device`), or
        read now."""
        if tensors is None:
            tensors = Reader(self.folder, device, components=[m.name for m in self.models]).start().result()
        for m in self.models:
            _place(m, tensors.get(m.name, {}))
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


def _place(m: Model, tensors: dict[str, torch.Tensor]) -> None:
    state = m.model.state_dict(keep_vars=True)
    for key, tensor in tensors.items():
        if key not in state:
            raise Unsupported(f"{m.name}: the saved files hold {key}, which the model does not have")
        if tuple(tensor.shape) != tuple(state[key].shape):
            raise Unsupported(f"{m.name}: {key} is {tuple(tensor.shape)} in the saved files, "
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


# --- half 2's reading: the files, onto the device ------------------------------------------------

# https://huggingface.co/docs/safetensors: "dtype", "shape" and "data_offsets" (from the end of the header) per tensor.
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}
HEADER_LIMIT = 100 * 1024**2  # the format's own limit on the JSON header


@dataclass(frozen=True)
class Entry:
    key: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int  # offsets in the file
    end: int


def entries(path: Path) -> list[Entry]:
    """The tensors a safetensors file holds, in file order; `Unsupported` for anything this reader does not read."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size <= HEADER_LIMIT:
            raise Unsupported(f"{path.name}: not a safetensors file (header of {size} bytes)")
        header = json.loads(f.read(size))
        total = os.fstat(f.fileno()).st_size
    out = []
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        dtype = DTYPES.get(spec.get("dtype"))
        if dtype is None:
            raise Unsupported(f"{path.name}: {key} has dtype {spec.get('dtype')}, which this loader does not read")
        shape = tuple(int(n) for n in spec["shape"])
        begin, end = (8 + size + int(o) for o in spec["data_offsets"])
        numel = 1
        for n in shape:
            numel *= n
        if end - begin != numel * dtype.itemsize or end > total:
            raise Unsupported(f"{path.name}: {key} does not fit its header ({shape}, {spec.get('dtype')}, "
                              f"bytes {begin}-{end} of {total})")
        out.append(Entry(key, dtype, shape, begin, end))
    return sorted(out, key=lambda e: e.begin)


def weight_files(folder: Path, components: list[str] | None = None) -> dict[str, list[Path]]:
    """Each model component of a saved pipeline (model_index.json) and its safetensors shards; components
    without weight files (tokenizer, scheduler) are left out. Reads JSON only: nothing is imported."""
    index = json.loads((folder / "model_index.json").read_text())
    files = {}
    for name, spec in sorted(index.items()):
        if name.startswith("_") or not isinstance(spec, list) or spec[0] not in WEIGHTS:
            continue
        if components is not None and name not in components:
            continue
        try:
            files[name] = shards(folder / name, spec[0])
        except Unsupported:
            if components is not None:  # a model without its weights: said so when it is placed
                raise
    return files


class Reader:
    """Reads a saved pipeline's model shards onto `device` in threads that import nothing, so it can run beside
    the job's imports (pipeline.build_pipeline). `result()` waits: {component: {key: tensor}}, or the error.

    Each thread reads ranges of `RANGE` bytes: `CHUNK` bytes at a time into a host buffer (pinned, on a GPU),
    then copies the parts of the tensors in that chunk to their place on the device (asynchronously, on the
    thread's own stream, so the next read overlaps the copy). Every tensor is allocated before any copy."""

    RANGE = 256 * 1024**2
    CHUNK = 32 * 1024**2

    def __init__(self, folder: str | Path, device: str | torch.device, *, threads: int = 8,
                 components: list[str] | None = None):
        self.folder, self.threads, self.components = Path(folder), threads, components
        target = torch.device(device)
        if target.type == "cuda" and target.index is None:  # a thread's "cuda" would mean device 0
            target = torch.device("cuda", torch.cuda.current_device())
        self.device = target
        self.bytes = 0
        self.seconds: float | None = None
        self._future: Future = Future()

    def start(self) -> "Reader":
        threading.Thread(target=self._run, name="videobot-reader", daemon=True).start()
        return self

    def result(self) -> dict[str, dict[str, torch.Tensor]]:
        return self._future.result()

    def _run(self) -> None:
        began = time.perf_counter()
        try:
            tensors = self._read()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            self.seconds = round(time.perf_counter() - began, 3)
            self._future.set_exception(exc)
            return
        self.seconds = round(time.perf_counter() - began, 3)  # before the waiter wakes, which reports it
        self._future.set_result(tensors)

    def _read(self) -> dict[str, dict[str, torch.Tensor]]:
        out: dict[str, dict[str, torch.Tensor]] = {}
        ranges = []
        for name, paths in weight_files(self.folder, self.components).items():
            tensors = out.setdefault(name, {})
            for path in paths:
                listed = entries(path)
                places = []
                for e in listed:
                    if e.key in tensors:
                        raise Unsupported(f"{name}: {e.key} is in two files")
                    tensors[e.key] = torch.empty(e.shape, dtype=e.dtype, device=self.device)
                    places.append((e, _bytes_of(tensors[e.key])))
                if places:
                    lo, hi = places[0][0].begin, max(e.end for e, _ in places)
                    ranges += [(path, places, start, min(start + self.RANGE, hi)) for start in range(lo, hi, self.RANGE)]
                    self.bytes += hi - lo
        allocated = None
        if self.device.type == "cuda":  # the copies' streams wait for whatever last used the memory handed out
            allocated = torch.cuda.Event()
            allocated.record(torch.cuda.current_stream(self.device))
        local = threading.local()
        with ThreadPoolExecutor(max_workers=max(1, min(self.threads, len(ranges))),
                                thread_name_prefix="videobot-reader") as pool:
            list(pool.map(lambda r: self._copy(local, allocated, *r), ranges))  # re-raises a range's error here
        del local  # the threads' pinned buffers go back to the host allocator's cache, then to the system
        if self.device.type == "cuda" and hasattr(torch._C, "_host_emptyCache"):
            torch._C._host_emptyCache()
        return out

    def _copy(self, local, allocated, path: Path, places, lo: int, hi: int) -> None:
        """Copies the bytes [lo, hi) of `path` into the tensors that hold them."""
        cuda = self.device.type == "cuda"
        if not hasattr(local, "buffers"):
            local.buffers = [torch.empty(self.CHUNK, dtype=torch.uint8, pin_memory=cuda) for _ in range(2)]
            local.views = [memoryview(b.numpy()) for b in local.buffers]
            local.stream = torch.cuda.Stream(self.device) if cuda else None
            local.done = [None, None]  # the event after each buffer's last copies
            if allocated is not None:
                local.stream.wait_event(allocated)
        fd = os.open(path, os.O_RDONLY)
        try:
            with torch.cuda.stream(local.stream) if cuda else contextlib.nullcontext():
                first, which, at = 0, 0, lo
                while at < hi:
                    n = min(self.CHUNK, hi - at)
                    if local.done[which] is not None:
                        local.done[which].synchronize()  # its earlier copies have left the buffer
                    _read_into(fd, local.views[which][:n], at, path)
                    while first < len(places) and places[first][0].end <= at:
                        first += 1
                    k = first
                    while k < len(places) and places[k][0].begin < at + n:
                        entry, target = places[k]
                        a, b = max(entry.begin, at), min(entry.end, at + n)
                        if b > a:
                            target[a - entry.begin:b - entry.begin].copy_(local.buffers[which][a - at:b - at],
                                                                         non_blocking=cuda)
                        k += 1
                    if cuda:
                        local.done[which] = torch.cuda.Event()
                        local.done[which].record(local.stream)
                    at += n
                    which ^= 1
            if cuda:
                local.stream.synchronize()
        finally:
            os.close(fd)


def _bytes_of(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1).view(torch.uint8) if tensor.numel() else torch.empty(0, dtype=torch.uint8)


def _read_into(fd: int, view: memoryview, offset: int, path: Path) -> None:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise Unsupported(f"{path.name}: the file ends before its header says it does")
        done += got
