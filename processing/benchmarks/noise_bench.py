"""How long the GPU waits for the scheduler's CPU noise, with and without drawing it ahead (processing/noise.py).

    python -m processing.benchmarks.noise_bench [--steps 20] [--step-ms 1200]

Needs only torch. A stand-in denoising loop: a step of GPU matmuls sized to take about --step-ms,
then what CogVideoX's pipeline does between two steps: wait for the GPU (`t.item()`), draw the DPM
scheduler's noise twice on the job's CPU generator in the latents' dtype (bf16) and copy it over.
Prints the CPU draw time per latent shape, and the loop's time per step without noise, with the noise
drawn on the spot, and drawn ahead.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from processing import noise

# The latents CogVideoX's pipelines draw: [batch, latent frames, channels, height/8, width/8].
LATENTS = {"cogvideox-5b": (1, 13, 16, 60, 90), "cogvideox1.5-5b": (1, 22, 16, 96, 170)}


def draw_ms(shape, dtype, repeats: int = 5) -> float:
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.randn(shape, generator=generator, dtype=dtype)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def calibrate(device: str, step_ms: float):
    """A matrix and how many of its matmuls make a step of about step_ms (one 8192^3 bf16 matmul is ~1.1
    TFLOP), timed after a warm-up so that the library's start is not counted."""
    size = 8192 if device == "cuda" else 256
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(5):
        a @ a
    sync()
    started = time.perf_counter()
    for _ in range(20):
        a @ a
    sync()
    per = (time.perf_counter() - started) / 20
    return a, max(1, round(step_ms / 1000 / per))


def loop(shape, steps: int, a, reps: int, how: str, device: str) -> float:
    """The median time between two steps' ends; `how`: no noise, drawn on the spot, or drawn ahead."""
    generator = torch.Generator().manual_seed(1)
    prefetcher = noise.Prefetcher(generator) if how == "ahead" else None
    t = torch.tensor(999, device=device)
    sample = torch.zeros(shape, device=device, dtype=torch.bfloat16)
    stamps = []
    for _ in range(steps):
        for _ in range(reps):
            a @ a
        t.item()  # the dynamic guidance's sync
        for _ in range(2 if how != "no_noise" else 0):  # the DPM scheduler's two draws, back to back
            drawn = prefetcher.randn(shape, torch.bfloat16) if prefetcher is not None else \
                torch.randn(shape, generator=generator, dtype=torch.bfloat16)
            sample = sample + drawn.to(device)
        stamps.append(time.perf_counter())
    if prefetcher is not None:
        prefetcher.close()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return round(statistics.median(gaps) * 1000, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-ms", type=float, default=1200)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "threads": torch.get_num_threads()}
    a, reps = calibrate(device, args.step_ms)
    for name, shape in LATENTS.items():
        out[name] = {"draw_ms_bf16": draw_ms(shape, torch.bfloat16), "draw_ms_fp32": draw_ms(shape, torch.float32),
                     **{f"step_ms_{how}": loop(shape, args.steps, a, reps, how, device)
                        for how in ("no_noise", "on_the_spot", "ahead")}}
        print(name, json.dumps(out[name]), flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
