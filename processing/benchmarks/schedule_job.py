"""Benchmark helper: one job (`python -m processing run ...`) with another `--speed fast` step-cache schedule, to
weigh its denoising time against its frames' PSNR from lossless (docs/performance.md, session 8: the schedules
compared before one step in 5 became fast's). metadata.json's `optimizations.step_cache` records the schedule.

    python -m processing.benchmarks.schedule_job WARMUP COOLDOWN INTERVAL -- run --speed fast ...
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 4 or argv[3] != "--":
        print("usage: schedule_job WARMUP COOLDOWN INTERVAL -- <processing command line>", file=sys.stderr)
        return 2
    from processing import cli, optimize

    warmup, cooldown, interval = (int(n) for n in argv[:3])
    optimize.FAST_STEP_CACHE = optimize.StepCacheSchedule(warmup=warmup, cooldown=cooldown, interval=interval)
    print(f"fast computes {optimize.FAST_STEP_CACHE.computed_steps(50)} of 50 steps", file=sys.stderr)
    return cli.main(argv[4:])


if __name__ == "__main__":
    sys.exit(main())
