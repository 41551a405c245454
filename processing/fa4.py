"""FlashAttention-4 (`flash-attn-4` on PyPI: CuTe DSL kernels, JIT-compiled) as one opaque op.

`optimize.attention` calls `attention_bshd` with the strided (batch, sequence, heads, head_dim)
views of the processor's (batch, heads, sequence, head_dim) tensors: FlashAttention-4 reads that
layout natively (only the last dimension must be contiguous), so nothing is copied. The kernel is
a `torch.library.custom_op`, so Dynamo keeps the regionally compiled block as one graph and
Inductor fuses what is around it; the op's own body runs eagerly.

Selection (`choose`) is pure and tested on CPU; the kernel itself only runs on Hopper (sm90) and
datacenter Blackwell (sm100/sm103) GPUs. If the package is missing the job keeps today's cuDNN
SDPA; if the kernel fails at run time (JIT compile, an unsupported shape), the op falls back to
cuDNN SDPA for the rest of the process and records why (`STATE`, reported in metadata.json).
"""
import functools  # no `from __future__ import annotations`: custom_op reads the real annotations
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

# Compute-capability majors with a FlashAttention-4 forward kernel we run: 9 = Hopper (H100,
# H200), 10 = datacenter Blackwell (B200, B300). sm120 (consumer Blackwell) has a kernel in the
# package too but was never measured here, so it keeps cuDNN.
CAPABILITIES = (9, 10)
DTYPES = (torch.bfloat16, torch.float16)
MAX_HEAD_DIM = 128  # what both the sm90 and the sm100 kernels accept (multiples of 8)


@dataclass
class KernelState:
    """What the op did in this process: calls that ran FlashAttention-4, and why it stopped."""
    calls: int = 0
    error: str | None = None
    disk_cache: str | None = None  # where the package keeps its compiled kernels (use_disk_cache)

    def ran(self) -> str:
        return "fa4" if self.error is None else "cudnn"


STATE = KernelState()


@functools.lru_cache(maxsize=1)
def import_error() -> str | None:
    """None when `flash_attn.cute.interface` imports, else why not. Call it from the main thread:
    the CuTe DSL's imports, like diffusers', are not safe to run from two threads at once."""
    try:
        from flash_attn.cute.interface import flash_attn_func  # noqa: F401
    except Exception as exc:  # ImportError, or a CUDA/driver mismatch inside the DSL's own imports
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


# FlashAttention-4's own disk cache of its JIT-compiled kernels (flash_attn/cute/cache_utils.py): read
# once, when the package is first imported.
CACHE_ENABLED_ENV = "FLASH_ATTENTION_CUTE_DSL_CACHE_ENABLED"
CACHE_DIR_ENV = "FLASH_ATTENTION_CUTE_DSL_CACHE_DIR"


def use_disk_cache(directory: Path) -> str | None:
    """Keeps FlashAttention-4's compiled kernels in `directory`, so that a job loads its kernel instead of
    compiling it (1.2-2.2 s a process on an H200). pipeline.build_pipeline passes a folder of the
    compile cache beside the weights, so the kernels travel with them as Inductor's do.

    Only before the package is first imported (it reads the setting then; later calls report what is in
    effect), never over a setting from the environment, and only where the folder can be written: every
    load takes a lock file there, and a lock it could not take would fail the kernel's call. A stale or
    foreign file only costs a compile (the package's cache recompiles what it cannot load). Returns the
    folder in use, or None."""
    if "flash_attn.cute.cache_utils" not in sys.modules and CACHE_ENABLED_ENV not in os.environ:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            writable = os.access(directory, os.W_OK | os.X_OK)
        except OSError:
            writable = False
        if writable:
            os.environ[CACHE_ENABLED_ENV], os.environ[CACHE_DIR_ENV] = "1", str(directory)
    in_use = os.environ.get(CACHE_DIR_ENV) if os.environ.get(CACHE_ENABLED_ENV) == "1" else None
    STATE.disk_cache = in_use
    return in_use


def available() -> bool:
    return import_error() is None


def choose(capability: tuple[int, int] | None, fa4_installed: bool) -> str:
    """The attention kernel for a GPU of this compute capability (None: no GPU).

    FlashAttention-4 on Hopper and datacenter Blackwell when the package imports; otherwise
    cuDNN SDPA from Hopper on (the fastest SDPA kernel there), PyTorch's own choice below that.
    """
    if capability is None:
        return "default"
    if capability[0] in CAPABILITIES and fa4_installed:
        return "fa4"
    if tuple(capability) >= (9, 0):
        return "cudnn"
    return "default"


def fits(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> bool:
    """Tensors (B, H, S, D) the kernel takes: half precision, same dtype, head dim ≤ 128 in 8s."""
    head_dim = query.shape[-1]
    return (query.dim() == 4 and query.dtype in DTYPES and key.dtype == query.dtype == value.dtype
            and head_dim % 8 == 0 and head_dim <= MAX_HEAD_DIM and value.shape[-1] % 8 == 0
            and value.shape[-1] <= MAX_HEAD_DIM)


def _cudnn_bshd(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The fallback inside the op: cuDNN SDPA (others after it) on the (B, H, S, D) views."""
    q, k, v = (t.transpose(1, 2) for t in (query, key, value))
    if q.is_cuda:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        order = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                 SDPBackend.MATH]
        with sdpa_kernel(order, set_priority=True):
            out = F.scaled_dot_product_attention(q, k, v)
    else:
        out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).contiguous()


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


@torch.library.custom_op("videobot::fa4_attention", mutates_args=())
def fa4_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √d) v on (B, S, H, D) tensors (any strides with a contiguous last dim);
    returns a new contiguous (B, S, H, Dv) tensor."""
    if STATE.error is None:
        try:
            from flash_attn.cute.interface import flash_attn_func

            out = flash_attn_func(query, key, value)
            out = out[0] if isinstance(out, tuple) else out
            STATE.calls += 1
            return out
        except Exception as exc:
            if _is_out_of_memory(exc):
                raise
            STATE.error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("FlashAttention-4 failed; cuDNN attention for the rest of this job", exc_info=True)
    return _cudnn_bshd(query, key, value)


@fa4_attention.register_fake
def _fa4_attention_fake(query, key, value):
    return query.new_empty((*query.shape[:-1], value.shape[-1]))


def attention_bhsd(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The processor's (B, H, S, D) layout in and out, through strided views: no copies."""
    out = fa4_attention(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2))
    return out.transpose(1, 2)
