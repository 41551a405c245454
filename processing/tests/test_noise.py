"""processing/noise.py: noise drawn ahead is exactly the noise drawn on the spot, in a real pipeline call too."""
from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from processing import noise, optimize, pipeline
from processing.presets import load_presets


def test_draws_made_ahead_are_the_draws_made_on_the_spot():
    plain, ahead = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    prefetcher = noise.Prefetcher(ahead)
    # The DPM scheduler's pattern (latents, then one or two draws a step), a change of shape and
    # dtype, and someone else drawing from the generator between two draws.
    requests = [((1, 3, 4, 5), torch.bfloat16)] * 4 + [((2, 6), torch.float32)] * 3 + [((1, 3, 4, 5), torch.bfloat16)]
    for k, (shape, dtype) in enumerate(requests):
        if k == 6:
            assert torch.equal(torch.rand(3, generator=plain), torch.rand(3, generator=ahead))
        expected = torch.randn(shape, generator=plain, dtype=dtype)
        got = prefetcher.randn(torch.Size(shape), dtype)
        assert got.dtype == dtype and torch.equal(got, expected), k
    prefetcher.close()
    # Served: draws 2-4, 6 (same shape as the draw before, generator untouched since); the rest on the spot.
    assert (prefetcher.served, prefetcher.drawn) == (4, 4)
    # The generator is where the plain one is: the draw made ahead and not asked for left no trace.
    assert torch.equal(ahead.get_state(), plain.get_state())


def settle(prefetcher):
    """What a GPU step gives the thread: time to finish every draw it was asked to make ahead."""
    while prefetcher.ready() < len(prefetcher._ahead):
        prefetcher._ahead[-1].future.result()


def test_every_draw_of_a_step_and_of_fasts_reused_steps_is_made_during_the_step_before():
    # CogVideoX's DPM scheduler draws twice a step, microseconds apart (with one draw ahead the second waited
    # for its whole draw, ~25 ms a 5b step on an H200's host); --speed fast follows a computed step (a second
    # of GPU work: time to draw ahead) with reused ones of little GPU work, each wanting two draws at once.
    # All of them must have been made during the computed step.
    shape, dtype = (1, 13, 16, 6, 9), torch.bfloat16
    reused = optimize.FAST_STEP_CACHE.interval - 1
    plain, ahead = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    prefetcher = noise.Prefetcher(ahead)
    assert torch.equal(prefetcher.randn(shape, dtype), torch.randn(shape, generator=plain, dtype=dtype))  # latents
    for interval in range(2):
        settle(prefetcher)  # the computed step
        assert prefetcher.ready() == noise.DEPTH >= 2 * (1 + reused)
        for _ in range(1 + reused):  # its own two draws, then the reused steps', with no time between them
            for _ in range(2):
                assert torch.equal(prefetcher.randn(shape, dtype), torch.randn(shape, generator=plain, dtype=dtype)), interval
    assert prefetcher.counts() == {"served": 2 * 2 * (1 + reused), "waited": 0, "drawn": 1}
    prefetcher.close()
    assert torch.equal(ahead.get_state(), plain.get_state())


def test_a_chain_made_ahead_is_dropped_when_someone_else_draws():
    plain, ahead = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    prefetcher = noise.Prefetcher(ahead, depth=3)
    shape = (4, 5)
    for k in range(7):
        if k in (2, 3):  # a foreign draw between two of ours, twice in a row
            assert torch.equal(torch.randn(2, generator=plain), torch.randn(2, generator=ahead))
        settle(prefetcher)
        assert torch.equal(prefetcher.randn(shape, torch.bfloat16), torch.randn(shape, generator=plain, dtype=torch.bfloat16)), k
    assert (prefetcher.served, prefetcher.drawn) == (4, 3)
    prefetcher.close()
    assert torch.equal(ahead.get_state(), plain.get_state())
    with pytest.raises(ValueError):
        noise.Prefetcher(torch.Generator(), depth=0)


def test_only_a_cpu_generator_is_drawn_ahead():
    cuda_generator = SimpleNamespace(device=torch.device("cuda"))  # what a CUDA generator says of itself
    with pytest.raises(ValueError):
        noise.Prefetcher(cuda_generator)
    with noise.prefetched(SimpleNamespace(scheduler=None), cuda_generator) as prefetcher:
        assert prefetcher is None


@pytest.fixture(scope="module")
def tiny():
    preset = load_presets().get("tiny-random")
    return preset, pipeline.build_pipeline(preset, "t2v", None, "cpu", "float32", "none")


def frames(preset, pipe, seed=3):
    return pipeline.generate(pipe, preset=preset, mode="t2v", prompt="noise", negative_prompt="", seed=seed,
                             frames=9, steps=4, guidance=6.0, height=64, width=96, device="cpu")


def test_a_job_makes_the_same_frames_with_its_noise_drawn_ahead(tiny, monkeypatch):
    preset, pipe = tiny
    scheduler_module = __import__(type(pipe.scheduler).__module__, fromlist=["randn_tensor"])
    original = scheduler_module.randn_tensor
    used = []
    real = noise.prefetched

    @contextlib.contextmanager
    def watched(p, generator):
        with real(p, generator) as prefetcher:
            used.append(prefetcher)
            assert scheduler_module.randn_tensor is not original  # diffusers' draws go through it
            yield prefetcher

    monkeypatch.setattr(noise, "prefetched", watched)
    ahead = frames(preset, pipe)
    assert scheduler_module.randn_tensor is original  # put back after the call
    (prefetcher,) = used
    # The latents, then the DPM scheduler's draws: 1 on the first and the last step, 2 on the others;
    # all but the first (the latents, a new shape) came from ahead.
    assert (prefetcher.served, prefetcher.drawn) == (1 + 2 * 2 + 1, 1)
    counts = pipe.videobot_noise  # what metadata.json's runtime.noise_draws reports
    assert (counts["served"], counts["drawn"]) == (1 + 2 * 2 + 1, 1)

    monkeypatch.setattr(noise, "prefetched", lambda p, g: contextlib.nullcontext())
    np.testing.assert_array_equal(ahead, frames(preset, pipe))
    assert not np.array_equal(ahead, frames(preset, pipe, seed=4))
