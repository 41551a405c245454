"""A job's Gaussian noise, drawn on its CPU generator ahead of time, beside the GPU's work.

A job seeds a CPU generator so that a seed means the same video on every device (pipeline.
seed_generator). diffusers then draws every noise tensor on the CPU and copies it over: the
latents once, and CogVideoX's DPM scheduler twice a step, in the latents' dtype. bfloat16 draws
are slow on a CPU (~20-40 ms for a 5b latent, ~5x that for 1.5-5B's), and the pipeline has just
waited for the GPU (`t.item()` for the dynamic guidance), so the GPU idles for every draw: ~50 ms
a 5b step, 4% of a lossless job and 13% of a fast one (docs/performance.md).

`Prefetcher` keeps the next draws of the same shape and dtype made ahead, in a thread, while the GPU
runs the step: a chain of `depth` draws (`DEPTH`: the DPM scheduler draws twice a step, a few
microseconds apart, so with one draw ahead the second waited for its whole draw, ~25 ms a 5b step on an
H200 host; and fast's reused steps want their draws faster than one thread makes them), each on a copy
of the generator's state where the one before ended. When
the pipeline asks, and the generator is still in the state the first of them started from, it gets
that tensor and the generator jumps to that draw's end state; otherwise (another shape, or someone
else drew from the generator meanwhile) the chain is dropped and it draws as before. Either way
every draw is exactly what `torch.randn(shape, generator=g, dtype=dtype)` would have returned: the
same seed still makes the same video, bit for bit.
"""
from __future__ import annotations

import contextlib
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch


# Draws kept made ahead. CogVideoX's DPM scheduler draws twice a step, back to back, so two at least; and
# `--speed fast` reuses the transformer's output on 4 steps of every 5 (optimize.FAST_STEP_CACHE), steps
# with little GPU work that want 50 ms of draws (25 ms each on an H200 host): 60 of a fast job's 98 draws
# were waited for with two ahead, none with eight while it reused 3 steps of 4, 2 with eight at 4 of 5,
# none with ten. Ten are made during the computed step before (1 s): its own two and the four reused steps'.
DEPTH = 10


@dataclass
class _Ahead:
    shape: tuple[int, ...]
    dtype: torch.dtype
    future: Future  # (tensor, the generator state it started from, the state it ended in)


def _draw(shape, dtype, start: torch.Tensor | None, before: Future | None):
    """One draw on a copy of a generator state: `start`, or where the draw `before` ended."""
    if start is None:
        start = before.result()[2]
    generator = torch.Generator(device="cpu")
    generator.set_state(start)
    tensor = torch.randn(shape, generator=generator, dtype=dtype)
    return tensor, start, generator.get_state()


class Prefetcher:
    """Serves `torch.randn(shape, generator=generator, dtype=dtype)` from draws made ahead."""

    def __init__(self, generator: torch.Generator, depth: int = DEPTH):
        if generator.device.type != "cpu":
            raise ValueError("only a CPU generator's draws can be made ahead")
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.generator, self.depth = generator, depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="videobot-noise")
        self._ahead: deque[_Ahead] = deque()
        self.served = 0  # draws that came from ahead
        self.waited = 0  # of those, draws not finished when asked for (the caller waited for the rest)
        self.drawn = 0  # draws made on the spot

    def randn(self, shape, dtype: torch.dtype) -> torch.Tensor:
        shape = tuple(int(s) for s in shape)
        tensor = self._take(shape, dtype)
        if tensor is None:
            self._drop()
            tensor = torch.randn(shape, generator=self.generator, dtype=dtype)
            self.drawn += 1
        while len(self._ahead) < self.depth:  # keep `depth` draws of this shape coming
            before = self._ahead[-1].future if self._ahead else None
            start = None if before is not None else self.generator.get_state()
            self._ahead.append(_Ahead(shape, dtype, self._pool.submit(_draw, shape, dtype, start, before)))
        return tensor

    def counts(self) -> dict:
        return {"served": self.served, "waited": self.waited, "drawn": self.drawn}

    def ready(self) -> int:
        """Draws already made ahead and waiting to be asked for."""
        return sum(1 for ahead in self._ahead if ahead.future.done())

    def _take(self, shape, dtype) -> torch.Tensor | None:
        if not self._ahead or (self._ahead[0].shape, self._ahead[0].dtype) != (shape, dtype):
            return None
        head = self._ahead[0]
        finished = head.future.done()
        made, start, end = head.future.result()
        if not torch.equal(self.generator.get_state(), start):
            return None
        self._ahead.popleft()
        self.generator.set_state(end)
        self.served += 1
        self.waited += not finished
        return made

    def _drop(self) -> None:
        """Forgets the draws made ahead: they continue a chain the generator has left."""
        for ahead in self._ahead:
            ahead.future.cancel()
        self._ahead.clear()

    def close(self) -> None:
        """The generator keeps the state of the draws served; draws made ahead and not asked for are dropped."""
        self._drop()
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
