"""A/B of one lossless option on the same GPU, in one process: two copies of the real-size transformer
(same seed), one with the option and one without, stepped in turns (ABAB...) so clocks and power affect both.

    python -m processing.benchmarks.ab_step --preset cogvideox-5b --option fuse_gelu [--rounds 3 --repeats 5]

Prints each round's median step per side, their relative difference on one step, and GPU time by kind of
kernel (bench.kernel_times) per side. `--option` is a boolean field of optimize.Options.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

from processing.benchmarks import bench


def main(argv: list[str] | None = None) -> int:
    import torch

    from processing import optimize

    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="cogvideox-5b", choices=sorted(bench.SPECS))
    parser.add_argument("--option", default="fuse_gelu",
                        choices=[f.name for f in dataclasses.fields(optimize.Options) if f.type in ("bool", bool)])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    spec = bench.SPECS[args.preset]
    base = optimize.options_for("lossless", args.device)
    pipes = {}
    for side, value in (("with", True), ("without", False)):
        pipe = bench.make_pipeline(spec, bench.build_transformer(spec, args.device), bench.build_vae(spec, args.device))
        optimize.apply(pipe, dataclasses.replace(base, **{args.option: value}))
        pipes[side] = pipe
    inputs = bench.transformer_inputs(spec, pipes["with"], args.device)

    def call(pipe):
        with torch.no_grad():
            return pipe.transformer(**inputs)[0]

    result: dict = {"preset": args.preset, "option": args.option}
    outputs = {}
    for side, pipe in pipes.items():
        started = time.perf_counter()
        outputs[side] = call(pipe).float().cpu()
        bench.sync(args.device)
        result[f"first_call_s_{side}"] = round(time.perf_counter() - started, 2)
    result["rel_diff"] = bench.relative_difference(outputs["with"], outputs["without"])
    for _ in range(args.rounds):
        for side, pipe in pipes.items():
            times = bench.time_calls(lambda: call(pipe), args.device, 1, args.repeats)
            result.setdefault(f"median_s_{side}", []).append(round(statistics.median(times), 4))
    if args.device == "cuda":
        for side, pipe in pipes.items():
            result[f"kernels_ms_{side}"] = bench.kernel_times(lambda: call(pipe))["by_kind_ms"]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
