"""Speed options for a video transformer: `stock`, `lossless` (the default) and `fast` (lossy).

What each family's blocks need patched (fused projections, the attention processor, the block
list) is in processing/families/; this module holds what is the same for every family.

lossless keeps the arithmetic of stock diffusers (bf16 everywhere, same fp32 RoPE maths) and
only changes how it is scheduled on the GPU: one fused QKV matrix multiply instead of three,
the feed-forward's tanh GELU computed in its matrix multiply's epilogue (cuBLASLt, from the fp32
accumulator: one bf16 rounding fewer than stock, and no extra pass over the 4x-wide activation),
the fastest attention kernel for the GPU (FlashAttention-4 on Hopper, else cuDNN SDPA), and
regional torch.compile of the repeated block (compiled once, reused by all 42 CogVideoX-5B
blocks), whose Inductor/Triton artefacts persist in a compile-cache file so later jobs skip most
of the compile. Outputs stay within bf16 rounding of stock (docs/performance.md has the numbers).

fast adds two lossy steps on top: fp8 (e4m3, per-row/per-channel scaled, fast accumulation)
matrix multiplies in the transformer blocks, and, for families whose block list supports it
(CogVideoX), a fixed-schedule step cache that, between a few fully computed warm-up and final steps, computes
the block stack on one step in `interval` and reuses its cached residual on the others.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from processing import fa4

log = logging.getLogger(__name__)

SPEEDS = ("lossless", "fast", "stock")
ATTENTION_BACKENDS = ("default", "cudnn", "flash", "efficient", "math")  # SDPA's kernels
ATTENTION_KERNELS = ("fa4", *ATTENTION_BACKENDS)  # fa4: FlashAttention-4 (processing/fa4.py)
FP8_MAX = 448.0  # largest finite float8_e4m3fn
# Only the big matrix multiplies gain from fp8; the per-block modulation linears see batch-size rows.
FP8_MIN_FEATURES = 1024


@dataclass(frozen=True)
class StepCacheSchedule:
    """Which denoising steps run the transformer blocks; the others reuse the last computed residual."""
    warmup: int = 6
    cooldown: int = 4
    interval: int = 4

    def computes(self, step: int, total: int) -> bool:
        if step < self.warmup or step >= total - self.cooldown:
            return True
        return (step - self.warmup) % self.interval == 0

    def computed_steps(self, total: int) -> int:
        return sum(self.computes(k, total) for k in range(total))


# 18 of 50 steps computed (0-5, then every 5th, then 46-49): 19.4 s of denoising for 5b on an H200, its frames
# 39.2 dB from lossless's; one in 4 (20 computed) took 21.0 s at 40.0 dB (docs/performance.md, session 8).
FAST_STEP_CACHE = StepCacheSchedule(warmup=6, cooldown=4, interval=5)


@dataclass(frozen=True)
class Options:
    speed: str
    fuse_qkv: bool = False
    fuse_gelu: bool = False  # the feed-forward's tanh GELU in its matmul's epilogue (LinearGelu)
    attention: str = "default"
    compile_blocks: bool = False
    compile_backend: str = "inductor"
    fp8: bool = False
    fp8_min_features: int = FP8_MIN_FEATURES
    step_cache: StepCacheSchedule | None = None
    # Loading: weights straight onto the GPU (no model-sized copy in host memory), shards read in
    # parallel; and the block compiled on a one-block stand-in while the weights load.
    direct_load: bool = False
    prewarm: bool = False


def options_for(speed: str, device: str, memory_plan: str = "none") -> Options:
    """What each speed turns on for this device and memory plan.

    Compilation and fp8 need the transformer's weights to stay put during a step, so they are
    off under sequential offload (accelerate moves every layer's weights per call); on CPU only
    the fused projections and the step cache apply (CPU runs are tests and tiny models).
    """
    if speed not in SPEEDS:
        raise ValueError(f"unknown speed {speed!r}; choose one of {SPEEDS}")
    if speed == "stock":
        return Options(speed="stock")
    cuda = device == "cuda" and torch.cuda.is_available()
    resident = memory_plan in ("none", "model")
    compile_blocks = cuda and resident
    attention = fa4.choose(tuple(torch.cuda.get_device_capability()) if cuda else None,
                           cuda and fa4.available())
    loading = {"direct_load": cuda and memory_plan == "none", "prewarm": compile_blocks}
    # The fused GELU reads its Linear's weight itself: under sequential offload that weight only comes
    # to the GPU inside the Linear's own call (an accelerate hook), so there the modules stay as they are.
    if speed == "lossless":
        return Options(speed=speed, fuse_qkv=True, fuse_gelu=resident, attention=attention,
                       compile_blocks=compile_blocks, **loading)
    fp8 = cuda and resident and torch.cuda.get_device_capability() >= (8, 9)
    # Under fp8 the GELU stays where Inductor fuses it with quantising the next matmul's input.
    return Options(speed=speed, fuse_qkv=True, fuse_gelu=resident and not fp8, attention=attention,
                   compile_blocks=compile_blocks, fp8=fp8, step_cache=FAST_STEP_CACHE, **loading)


# --- attention --------------------------------------------------------------------------

def sdpa_backends(name: str):
    """The SDPA kernels to allow, in priority order (the named one first, the rest as fallback)."""
    from torch.nn.attention import SDPBackend

    order = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
             "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}
    if name == "default":
        return None
    if name not in order:
        raise ValueError(f"unknown attention backend {name!r}; choose one of {ATTENTION_BACKENDS}")
    return [order[name]] + [b for key, b in order.items() if key != name]


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, backend: str = "default",
              attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention on (B, H, S, D) tensors with the chosen kernel: `fa4` (FlashAttention-4, cuDNN
    for what it does not take: masks, float32, head dims above 128) or an SDPA kernel first."""
    if backend == "fa4":
        if attn_mask is None and fa4.fits(query, key, value):
            return fa4.attention_bhsd(query, key, value)
        backend = "cudnn"
    backends = sdpa_backends(backend) if query.is_cuda else None
    if backends is None:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask)
    from torch.nn.attention import sdpa_kernel

    with sdpa_kernel(backends, set_priority=True):
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask)


# --- the feed-forward's GELU in the matmul's epilogue ------------------------------------------

@torch.library.custom_op("videobot::linear_gelu_tanh", mutates_args=())
def linear_gelu_tanh(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """gelu_tanh(x Wᵀ + b). On CUDA one cuBLASLt matmul whose epilogue adds the bias and applies the
    tanh GELU to the fp32 accumulator (`torch._addmm_activation`); elsewhere the same maths unfused.

    An opaque op, because Inductor would otherwise decompose it back into a matmul and a pointwise
    kernel that reads and writes the 4x-wide activation once more (25 ms of a 5b step on an H200)."""
    rows = x.reshape(-1, x.shape[-1])
    if rows.is_cuda:
        out = torch._addmm_activation(bias, rows, weight.t(), use_gelu=True)  # tanh GELU on CUDA
    else:
        out = F.gelu(F.linear(rows, weight, bias), approximate="tanh")  # CPU's use_gelu is erf's GELU
    return out.reshape(*x.shape[:-1], weight.shape[0])


@linear_gelu_tanh.register_fake
def _linear_gelu_tanh_fake(x, weight, bias):
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


class LinearGelu(nn.Module):
    """diffusers' `GELU(approximate="tanh")` activation module (a Linear, then the GELU) as one op."""

    def __init__(self, gelu: nn.Module):
        super().__init__()
        self.proj = gelu.proj  # same parameter, same state-dict key (`...net.0.proj.weight`)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if not isinstance(self.proj, nn.Linear):  # to_fp8 swapped the matmul: the GELU goes on its own
            return F.gelu(self.proj(hidden_states), approximate="tanh")
        return linear_gelu_tanh(hidden_states, self.proj.weight, self.proj.bias)


def fuse_gelu(block: nn.Module) -> int:
    """Swaps the block's tanh-GELU activation modules (CogVideoX's and Wan's feed-forward) for LinearGelu."""
    from diffusers.models.activations import GELU

    swapped = 0
    for module in list(block.modules()):
        for name, child in list(module.named_children()):
            if (type(child) is GELU and child.approximate == "tanh" and child.proj.bias is not None
                    and child.proj.weight.dtype in (torch.bfloat16, torch.float16, torch.float32)):
                setattr(module, name, LinearGelu(child))
                swapped += 1
    return swapped


# --- fp8 ------------------------------------------------------------------------------

def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row scaled float8_e4m3fn: returns (values, fp32 scale of shape (rows, 1))."""
    scale = (x.abs().amax(dim=-1, keepdim=True).float() / FP8_MAX).clamp(min=1e-12)
    values = (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return values, scale


class Fp8Linear(nn.Module):
    """y = x W^T + b with x and W in float8 (dynamic per-row scale for x, per-output-channel for W).

    On CUDA this is one `torch._scaled_mm` (fp8 tensor cores, bias in the epilogue, bf16 out) with
    fast accumulation: Hopper's fp8 tensor cores then skip the periodic promotion of partial sums
    to fp32, 4% off a 5b fp8 step on an H200, 9.5e-3 relative difference from the exact
    accumulation (docs/performance.md). Elsewhere the same quantised values are multiplied in fp32,
    which is what tests compare against.
    """

    def __init__(self, linear: nn.Linear, work_device: torch.device | None = None):
        super().__init__()
        home = linear.weight.device
        weight = linear.weight.detach().to(work_device or home)
        values, scale = quantize_rows(weight)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight_fp8", values.to(home))
        self.register_buffer("weight_scale", scale.reshape(1, -1).to(home))
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach(), requires_grad=False)
        self.out_dtype = linear.weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        values, scale = quantize_rows(x.reshape(-1, shape[-1]))
        if values.is_cuda:
            bias = None if self.bias is None else self.bias.to(self.out_dtype)
            out = torch._scaled_mm(values, self.weight_fp8.t(), scale_a=scale, scale_b=self.weight_scale,
                                   bias=bias, out_dtype=self.out_dtype, use_fast_accum=True)
        else:
            out = ((values.float() * scale) @ (self.weight_fp8.float() * self.weight_scale.t()).t()).to(self.out_dtype)
            if self.bias is not None:
                out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8=e4m3"


def to_fp8(block: nn.Module, min_features: int = FP8_MIN_FEATURES,
           work_device: torch.device | None = None) -> int:
    """Swaps the block's large Linears (attention and feed-forward, not the norms) for Fp8Linear."""
    swapped = 0
    for name, module in list(block.named_modules()):
        for child_name, child in list(module.named_children()):
            path = f"{name}.{child_name}" if name else child_name
            if (isinstance(child, nn.Linear) and "norm" not in path
                    and min(child.in_features, child.out_features) >= min_features):
                setattr(module, child_name, Fp8Linear(child, work_device))
                swapped += 1
    return swapped


# --- step cache ---------------------------------------------------------------------------

class StepCache:
    """Counts denoising steps (timesteps fall within a run; a rise starts a new run)."""

    def __init__(self, schedule: StepCacheSchedule, total_steps):
        self.schedule = schedule
        self._total_steps = total_steps  # callable: the pipeline's current step count
        self.step = -1
        self.last_timestep: float | None = None
        self.residuals: tuple[torch.Tensor, torch.Tensor] | None = None
        self.inputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.computed = 0
        self.reused = 0

    def before_forward(self, _module, _args, kwargs):
        timestep = float(kwargs["timestep"].flatten()[0]) if torch.is_tensor(kwargs.get("timestep")) \
            else float(kwargs.get("timestep", 0))
        if self.last_timestep is None or timestep > self.last_timestep:
            self.step, self.residuals = -1, None
        self.last_timestep = timestep
        self.step += 1

    def computes_now(self) -> bool:
        if self.residuals is None:
            return True
        return self.schedule.computes(self.step, int(self._total_steps()))


# --- compile, and its fallback -------------------------------------------------------------

@dataclass
class CompileFallback:
    """Shared by one model's compiled blocks: once compiling fails, every block runs eagerly.

    Inductor and Triton need a C compiler (and Python's headers) to build their kernels; an image
    without one, a Triton that does not know the GPU, or an Inductor bug must cost speed, never
    the job. Out-of-memory errors are the job's own and still propagate."""
    error: str | None = None
    where: str | None = None  # "prewarm" (found on the stand-in) or "first call"

    def fail(self, exc: BaseException | str, where: str) -> None:
        if self.error is not None:
            return
        # On one line, without the hints Dynamo appends ("Set TORCHDYNAMO_VERBOSE=1 ...").
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.error = " ".join(text.split("Set TORCHDYNAMO_VERBOSE")[0].split())[:500]
        self.where = where
        log.warning("torch.compile failed (%s); the transformer runs eagerly (uncompiled): %s", where,
                    self.error, exc_info=exc if isinstance(exc, BaseException) else None)


class GuardedCompile:
    """A block's compiled call (what `nn.Module.compile` installs) that falls back to the block's
    eager call when compiling or running the compiled code raises."""

    def __init__(self, block: nn.Module, backend, fallback: CompileFallback, where: str = "first call"):
        self.block = block
        self.compiled = torch.compile(block._call_impl, fullgraph=True, dynamic=False, backend=backend)
        self.fallback = fallback
        self.where = where

    def __call__(self, *args, **kwargs):
        if self.fallback.error is None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:
                if fa4._is_out_of_memory(exc):
                    raise
                self.fallback.fail(exc, self.where)
        return self.block._call_impl(*args, **kwargs)


def compile_regionally(blocks, backend, fallback: CompileFallback, where: str = "first call") -> None:
    """Regional compile: each block gets the same compiled code (one graph for all of them)."""
    for block in blocks:
        block._compiled_call_impl = GuardedCompile(block, backend, fallback, where)


# --- compile cache ------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


COMPILE_CACHE_FOLDER = "compile-cache"


def compile_cache_dir(models_dir: Path, preset: str) -> Path:
    """Inside the preset's weights folder, so the compile cache travels with the staged weights:
    `models stage` writes it there on a GPU, the S3 model cache keeps it under `<preset>/`, and every
    job that mounts the weights finds it. Locally the first job writes it and later jobs read it."""
    return models_dir / preset / COMPILE_CACHE_FOLDER


def _gpu_slug() -> str:
    """The GPU type compiled code fits, as it appears in the compile cache's names."""
    return _slug(torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")


def keep_fa4_kernels(cache_dir: Path | None, device: str) -> None:
    """FlashAttention-4's compiled kernels go in the compile cache too (fa4.use_disk_cache), one folder per GPU
    type beside Inductor's files. Call it before `options_for`, which imports the package."""
    if device == "cuda" and cache_dir is not None:
        fa4.use_disk_cache(cache_dir / f"fa4-{_gpu_slug()}")


def compile_cache_file(cache_dir: Path, label: str, sample_shape) -> Path:
    """One file per (model, speed, GPU, torch, input shape): compiled kernels only fit those."""
    shape = "x".join(str(int(s)) for s in sample_shape)
    return cache_dir / f"{_slug(label)}-{_gpu_slug()}-torch{_slug(torch.__version__)}-{shape}.bin"


def load_compile_cache(path: Path) -> bool:
    """Hot-loads saved Inductor/Triton artefacts; False (and a cold compile) when absent or stale."""
    if not path.is_file():
        return False
    try:
        torch.compiler.load_cache_artifacts(path.read_bytes())
        log.info("compile cache: loaded %s", path)
        return True
    except Exception:  # a stale or foreign file only costs a cold compile
        log.warning("compile cache: could not load %s; compiling from scratch", path, exc_info=True)
        return False


def save_compile_cache(path: Path) -> bool:
    """Writes this process's compile artefacts to `path` (atomically); False when there are none."""
    try:
        artifacts = torch.compiler.save_cache_artifacts()
        if not artifacts:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(artifacts[0])
        os.replace(tmp, path)
        log.info("compile cache: saved %s (%d bytes)", path, len(artifacts[0]))
        return True
    except OSError:
        log.warning("compile cache: could not write %s; the next job compiles again", path, exc_info=True)
        return False


def compiled_graphs() -> int:
    """Graphs Dynamo has compiled in this process (0 new ones on a call means a cache hit)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@dataclass
class CompileCacheState:
    cache_dir: Path | None
    label: str
    file: str | None = None
    loaded: bool = False
    saved: bool = False
    first_call_s: float | None = None
    first_call_new_graphs: int | None = None  # 0: the first call found its graph compiled already
    prewarm: dict | None = None


class CompileCache:
    """Around the transformer's first call: waits for the prewarm (which compiled the block and
    handled the cache file), or else loads the compile artefacts before and saves them after."""

    def __init__(self, state: CompileCacheState, prewarm: "Prewarm | None" = None,
                 fallback: CompileFallback | None = None):
        self.state = state
        self.prewarm = prewarm
        self.fallback = fallback
        self._started: float | None = None
        self._graphs = 0
        self._path: Path | None = None

    def before_forward(self, _module, _args, kwargs):
        if self._started is not None or self.state.first_call_s is not None:
            return
        self._started = time.perf_counter()
        if self.prewarm is not None:
            result = self.prewarm.wait()
            self.state.prewarm = {**asdict(result), "waited_s": round(time.perf_counter() - self._started, 3)}
            if result.compile_error is not None and self.fallback is not None:
                self.fallback.fail(result.compile_error, "prewarm")  # no second try on the real model
            if result.error is None:
                self.state.file, self.state.loaded, self.state.saved = (result.cache_file, result.cache_loaded,
                                                                        result.cache_saved)
                self._graphs = compiled_graphs()
                return
        self._graphs = compiled_graphs()
        if self.state.cache_dir is None:
            return
        self._path = compile_cache_file(self.state.cache_dir, self.state.label, kwargs["hidden_states"].shape)
        self.state.file = str(self._path)
        self.state.loaded = load_compile_cache(self._path)

    def after_forward(self, _module, _args, _kwargs, output):
        if self._started is None or self.state.first_call_s is not None:
            return output
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.state.first_call_s = round(time.perf_counter() - self._started, 3)
        self.state.first_call_new_graphs = compiled_graphs() - self._graphs
        if self._path is not None and not self.state.loaded and (self.fallback is None or self.fallback.error is None):
            self.state.saved = save_compile_cache(self._path)
        return output


# --- prewarm: compile while the weights load -------------------------------------------------

@dataclass(frozen=True)
class WarmShape:
    """The transformer call a job will make: CFG batch, frames, size, text tokens."""
    batch: int
    frames: int
    height: int
    width: int
    text_tokens: int


@dataclass
class PrewarmResult:
    seconds: float | None = None
    error: str | None = None
    cache_file: str | None = None
    cache_loaded: bool = False
    cache_saved: bool = False
    new_graphs: int | None = None
    compile_error: str | None = None  # compiling the stand-in failed; it ran eagerly


class Prewarm:
    """Compiles the transformer block on a one-block stand-in, in a thread, while the weights load.

    The stand-in is the model's own block class with the job's options applied and random
    weights; regional compilation makes one graph that every block of the same shape reuses, so
    the real model's first call finds it compiled. Meanwhile the main thread only puts the weights
    in place (processing/loader.py; the models were built empty before this started): work that
    imports nothing and touches none of torch's process-wide state (the model loaders set the
    default dtype, which Dynamo's guards and traced constants depend on). A failure here only costs
    the compile on the first real call.
    """

    def __init__(self, config: dict, options: Options, shape: WarmShape, *, dtype, device: str = "cuda",
                 compile_cache_dir: Path | None = None, label: str = "cogvideox", family=None):
        from processing import families

        self.config, self.options, self.shape = dict(config), options, shape
        self.dtype, self.device = dtype, torch.device(device)
        self.compile_cache_dir, self.label = compile_cache_dir, label
        self.family = family or families.get("cogvideox")
        self.model_cls = self.family.transformer_class()  # imported here, in the caller's thread (pipeline.py)
        self.result = PrewarmResult()
        self._thread = threading.Thread(target=self._run, name="videobot-prewarm", daemon=True)

    def start(self) -> "Prewarm":
        self._thread.start()
        return self

    def wait(self) -> PrewarmResult:
        self._thread.join()
        return self.result

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._warm()
        except Exception as exc:
            log.warning("prewarm failed; the first transformer call compiles instead", exc_info=True)
            self.result.error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            self.result.seconds = round(time.perf_counter() - started, 3)

    def _stand_in(self):
        with torch.device("meta"):  # a thread-local mode: the main thread is not affected
            model = self.model_cls.from_config({**self.config, "num_layers": 1})
        model = model.to_empty(device=self.device).to(self.dtype).eval()
        with torch.no_grad():
            for tensor in (*model.parameters(), *model.buffers()):
                if tensor.is_floating_point():
                    tensor.normal_(0.0, 0.02)
        stand_in = SimpleNamespace(transformer=model, scheduler=None)
        self._report = apply(stand_in, replace(self.options, step_cache=None, prewarm=False),
                             work_device=str(self.device), compile_where="prewarm", family=self.family)
        return model

    def _inputs(self, model) -> dict:
        return self.family.warm_inputs(model, self.shape, self.device, self.dtype)

    def _warm(self) -> None:
        model = self._stand_in()
        inputs = self._inputs(model)
        path = None
        if self.compile_cache_dir is not None:
            path = compile_cache_file(self.compile_cache_dir, f"{self.label}-{self.options.speed}",
                                      inputs["hidden_states"].shape)
            self.result.cache_file = str(path)
            self.result.cache_loaded = load_compile_cache(path)
        graphs = compiled_graphs()
        with torch.no_grad():
            model(**inputs)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.result.new_graphs = compiled_graphs() - graphs
        self.result.compile_error = self._report.compile_fallback.error if self._report.compile_fallback else None
        if path is not None and not self.result.cache_loaded and self.result.compile_error is None:
            self.result.cache_saved = save_compile_cache(path)
        log.info("prewarm: block compiled on a stand-in (%d new graphs, cache %s)", self.result.new_graphs,
                 "loaded" if self.result.cache_loaded else "saved" if self.result.cache_saved else "unused")


# --- applying -----------------------------------------------------------------------------

def blocks_of(transformer, family=None) -> list[nn.Module]:
    """The transformer blocks themselves (iterating a family's block list yields helpers around them)."""
    from processing import families

    return (family or families.of_transformer(transformer)).blocks(transformer)


class Report:
    """What `apply` did; job.py writes `to_json()` into metadata.json once the video is made."""

    def __init__(self, speed: str):
        self.speed = speed
        self.fused_qkv = 0
        self.fused_gelu = 0
        self.attention = "default"
        self.compiled_blocks = 0
        self.fp8_linears = 0
        self.step_cache: StepCache | None = None
        self.compile_cache: CompileCacheState | None = None
        self.compile_fallback: CompileFallback | None = None
        self.loading: dict | None = None  # set by pipeline.build_pipeline: how the weights were loaded

    def to_json(self) -> dict:
        out = {"speed": self.speed, "fused_qkv": self.fused_qkv, "fused_gelu": self.fused_gelu,
               "attention": self.attention,
               "compiled_blocks": self.compiled_blocks, "fp8_linears": self.fp8_linears,
               "step_cache": None, "compile_cache": None, "loading": self.loading}
        # The kernel that ran: FlashAttention-4 falls back to cuDNN if it fails at run time.
        out["attention_ran"] = fa4.STATE.ran() if self.attention == "fa4" else self.attention
        if self.attention == "fa4":
            out["attention_fa4"] = {"calls": fa4.STATE.calls, "error": fa4.STATE.error,
                                    "disk_cache": fa4.STATE.disk_cache}
        fallback = self.compile_fallback
        # Compiled blocks that ran eagerly instead, and why (None: compiled as asked, or no compile).
        out["compile_fallback"] = None if fallback is None or fallback.error is None else \
            {"error": fallback.error, "where": fallback.where}
        if self.step_cache is not None:
            out["step_cache"] = {**asdict(self.step_cache.schedule), "computed_steps": self.step_cache.computed,
                                 "reused_steps": self.step_cache.reused}
        if self.compile_cache is not None:
            state = asdict(self.compile_cache)
            state["cache_dir"] = str(state["cache_dir"]) if state["cache_dir"] is not None else None
            out["compile_cache"] = state
        return out


def apply(pipe, options: Options, *, work_device: str | None = None,
          compile_cache_dir: Path | None = None, label: str = "cogvideox",
          prewarm: Prewarm | None = None, compile_where: str = "first call", family=None) -> Report:
    """Applies `options` to `pipe.transformer` in place; call before any offload is enabled.
    `family` (processing/families/) patches its blocks; by default the one the transformer is of.

    With a `prewarm` under way, the first transformer call waits for it instead of compiling.
    A compile that fails leaves the blocks eager (`Report.compile_fallback`), never the job failed."""
    from processing import families

    report = Report(speed=options.speed)
    if options.speed == "stock":
        return report
    transformer = pipe.transformer
    family = family or families.of_transformer(transformer)
    blocks = family.blocks(transformer)
    device = torch.device(work_device) if work_device else None

    for block in blocks:
        report.fused_qkv += family.patch_attention(block, options.fuse_qkv, options.attention)
    report.attention = options.attention
    if options.fuse_gelu:
        for block in blocks:
            report.fused_gelu += fuse_gelu(block)

    if options.fp8:
        for block in blocks:
            report.fp8_linears += to_fp8(block, options.fp8_min_features, device)

    if options.compile_blocks:
        # Inference only; it also keeps the compiled graph's guards the same for every model
        # (from_pretrained leaves requires_grad on, a stand-in or a benchmark model may not).
        transformer.requires_grad_(False)
        report.compile_fallback = CompileFallback()
        compile_regionally(blocks, options.compile_backend, report.compile_fallback, compile_where)
        report.compiled_blocks = len(blocks)
        state = CompileCacheState(cache_dir=compile_cache_dir, label=f"{label}-{options.speed}")
        hooks = CompileCache(state, prewarm, report.compile_fallback)
        transformer.register_forward_pre_hook(hooks.before_forward, with_kwargs=True)
        transformer.register_forward_hook(hooks.after_forward, with_kwargs=True)
        report.compile_cache = state

    cache = None
    if options.step_cache is not None and family.step_cache:
        cache = StepCache(options.step_cache, lambda: pipe.scheduler.num_inference_steps)
        transformer.register_forward_pre_hook(cache.before_forward, with_kwargs=True)
        report.step_cache = cache
    if options.compile_blocks or cache is not None:
        family.wrap_blocks(transformer, blocks, cache)
    return report
