"""A job's Gaussian noise, drawn on its CPU generator one draw ahead, beside the GPU's work.

A job seeds a CPU generator so that a seed means the same video on every device (pipeline.
seed_generator). diffusers then draws every noise tensor on the CPU and copies it over: the
latents once, and CogVideoX's DPM scheduler twice a step, in the latents' dtype. bfloat16 draws
are slow on a CPU (~20-40 ms for a 5b latent, ~5x that for 1.5-5B's), and the pipeline has just
waited for the GPU (`t.item()` for the dynamic guidance), so the GPU idles for every draw: ~50 ms
a 5b step, 4% of a lossless job and 13% of a fast one (docs/performance.md).

`Prefetcher` draws the next tensor of the same shape and dtype in a thread while the GPU runs the
step, on a copy of the generator's state. When the pipeline asks, and the generator is still in
the state the copy started from, it gets that tensor and the generator jumps to the copy's end
state; otherwise (another shape, or someone else drew from the generator meanwhile) it draws as
before. Either way every draw is exactly what `torch.randn(shape, generator=g, dtype=dtype)`
would have returned: the same seed still makes the same video, bit for bit.
"""
from __future__ import annotations

import contextlib
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch


@dataclass
class _Ahead:
    shape: tuple[int, ...]
    dtype: torch.dtype
    start: torch.Tensor  # the generator's state the draw started from
    future: Future  # (tensor, end state)


def _draw(shape, dtype, start: torch.Tensor):
    generator = torch.Generator(device="cpu")
    generator.set_state(start)
    tensor = torch.randn(shape, generator=generator, dtype=dtype)
    return tensor, generator.get_state()


class Prefetcher:
    """Serves `torch.randn(shape, generator=generator, dtype=dtype)` from a draw made ahead."""

    def __init__(self, generator: torch.Generator):
        if generator.device.type != "cpu":
            raise ValueError("only a CPU generator's draws can be made ahead")
        self.generator = generator
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="videobot-noise")
        self._ahead: _Ahead | None = None
        self.served = 0  # draws that came from ahead
        self.drawn = 0  # draws made on the spot

    def randn(self, shape, dtype: torch.dtype) -> torch.Tensor:
        shape = tuple(int(s) for s in shape)
        ahead, self._ahead = self._ahead, None
        tensor = None
        if ahead is not None:
            made, end = ahead.future.result()
            if (ahead.shape, ahead.dtype) == (shape, dtype) and torch.equal(self.generator.get_state(), ahead.start):
                self.generator.set_state(end)
                tensor = made
                self.served += 1
        if tensor is None:
            tensor = torch.randn(shape, generator=self.generator, dtype=dtype)
            self.drawn += 1
        start = self.generator.get_state()
        self._ahead = _Ahead(shape, dtype, start, self._pool.submit(_draw, shape, dtype, start))
        return tensor

    def close(self) -> None:
        """The generator keeps the state of the draws served; a draw made ahead and not asked for is dropped."""
        if self._ahead is not None:
            self._ahead.future.cancel()
            self._ahead = None
        self._pool.shutdown(wait=True)


# Where diffusers' `randn_tensor` is looked up during a pipeline call: the pipeline's module and
# the scheduler's (each imported the function by name).
def _modules_of(pipe) -> list:
    names = {type(pipe).__module__, type(getattr(pipe, "scheduler", None)).__module__}
    return [sys.modules[n] for n in sorted(names) if n in sys.modules and hasattr(sys.modules[n], "randn_tensor")]


@contextlib.contextmanager
def prefetched(pipe, generator: torch.Generator):
    """During the block, diffusers' draws on `generator` (pipeline and scheduler) come from a Prefetcher;
    every other call of `randn_tensor` is left as it was. Yields the Prefetcher (or None: nothing to do)."""
    modules = _modules_of(pipe)
    if generator.device.type != "cpu" or not modules:
        yield None
        return
    prefetcher = Prefetcher(generator)
    originals = {module: module.randn_tensor for module in modules}
    original = originals[modules[0]]  # each is diffusers.utils.torch_utils.randn_tensor

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None, **kwargs):
        if generator is not prefetcher.generator or kwargs or layout not in (None, torch.strided):
            return original(shape, generator=generator, device=device, dtype=dtype, layout=layout, **kwargs)
        tensor = prefetcher.randn(shape, dtype if dtype is not None else torch.get_default_dtype())
        return tensor if device is None else tensor.to(device)

    for module in modules:
        module.randn_tensor = randn_tensor
    try:
        yield prefetcher
    finally:
        for module, original in originals.items():
            module.randn_tensor = original
        prefetcher.close()
