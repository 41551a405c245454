"""How long the GPU waits for the scheduler's CPU noise, with and without drawing it ahead (processing/noise.py).

    python -m processing.benchmarks.noise_bench [--steps 20] [--step-ms 1200]

Needs only torch. A stand-in denoising loop: a step of GPU matmuls sized to take about --step-ms,
then what CogVideoX's pipeline does between two steps: wait for the GPU (`t.item()`), draw the DPM
scheduler's noise twice on the job's CPU generator in the latents' dtype (bf16) and copy it over.
Prints the CPU draw time per latent shape, and the loop's time per step both ways.
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


def loop(shape, steps: int, step_ms: float, ahead: bool, device: str) -> float:
    size = 8192 if device == "cuda" else 256
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    # Matmuls per step for about step_ms (one 8192^3 bf16 matmul is ~1.1 TFLOP).
    started = time.perf_counter()
    for _ in range(10):
        a @ a
    torch.cuda.synchronize() if device == "cuda" else None
    per = (time.perf_counter() - started) / 10
    reps = max(1, round(step_ms / 1000 / per))
    generator = torch.Generator().manual_seed(1)
    prefetcher = noise.Prefetcher(generator) if ahead else None
    t = torch.tensor(999, device=device)
    sample = torch.zeros(shape, device=device, dtype=torch.bfloat16)
    stamps = []
    for _ in range(steps):
        for _ in range(reps):
            a @ a
        t.item()  # the dynamic guidance's sync
        for _ in range(2):
            drawn = prefetcher.randn(shape, torch.bfloat16) if ahead else \
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
    for name, shape in LATENTS.items():
        out[name] = {"draw_ms_bf16": draw_ms(shape, torch.bfloat16), "draw_ms_fp32": draw_ms(shape, torch.float32),
                     "step_ms_on_the_spot": loop(shape, args.steps, args.step_ms, False, device),
                     "step_ms_ahead": loop(shape, args.steps, args.step_ms, True, device)}
        print(name, json.dumps(out[name]), flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
