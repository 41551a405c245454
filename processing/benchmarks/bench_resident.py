"""Benchmark: submit → MP4 of consecutive jobs on one resident worker (`serve`) vs one `run` process per job.

    python -m processing.benchmarks.bench_resident [--jobs 3] [--model tiny-random] [--device cpu] [--json]

"Submit" is the moment the job is handed over (the request line written to the worker, or the
`run` process spawned); "MP4" is the moment its files are final (the worker's result line, or the
process's exit). The worker is started just before the first job, as the bot starts it on its
first job. Prints numbers; checks nothing (docs/performance.md, "Resident worker").
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m processing.benchmarks.bench_resident", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "var" / "models")
    parser.add_argument("--speed", default="lossless", choices=("stock", "lossless", "fast"))
    parser.add_argument("--modes", default="resident,one-shot",
                        help="which series to run, comma-separated: resident (one `serve` worker), one-shot "
                             "(one `run` process per job); on a GPU the one-shot series of a large model is long")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser.parse_args(argv)


def write_job(root: Path, n: int, args: argparse.Namespace) -> tuple[Path, Path]:
    input_dir, output_dir = root / f"job-{n}" / "input", root / f"job-{n}" / "output"
    input_dir.mkdir(parents=True)
    (input_dir / "job.json").write_text(json.dumps({
        "id": f"bench-{n}", "model": args.model, "prompt": "a bee on a flower", "seed": n,
        "frames": args.frames, "steps": args.steps}))
    return input_dir, output_dir


def row(n: int, seconds: float, output_dir: Path) -> dict:
    meta = json.loads((output_dir / "metadata.json").read_text())
    timings = meta["timings_s"]
    return {"job": n, "submit_to_mp4_s": round(seconds, 3), "resident": meta["runtime"].get("resident"),
            "attention": (meta["runtime"].get("optimizations") or {}).get("attention_ran"),
            "peak_gib": round((meta["runtime"].get("peak_gpu_memory_bytes") or 0) / 2**30, 2),
            "load_s": meta["runtime"].get("load_s"), "denoise_s": timings.get("denoising"),
            "decode_s": timings.get("decoding"), "encode_s": timings.get("encoding")}


def flags(args: argparse.Namespace) -> list[str]:
    return ["--device", args.device, "--models-dir", str(args.models_dir), "--speed", args.speed,
            "--log-level", "warning"]


def resident_series(root: Path, args: argparse.Namespace) -> list[dict]:
    worker = subprocess.Popen([sys.executable, "-m", "processing", "serve", *flags(args)], cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rows = []
    try:
        for n in range(1, args.jobs + 1):
            input_dir, output_dir = write_job(root / "resident", n, args)
            began = time.perf_counter()
            worker.stdin.write(json.dumps({"id": f"bench-{n}", "input": str(input_dir), "output": str(output_dir)}) + "\n")
            worker.stdin.flush()
            while True:
                line = worker.stdout.readline()
                if not line:
                    raise SystemExit(f"the worker exited (code {worker.wait()})")
                message = json.loads(line)
                if message.get("id") == f"bench-{n}":
                    break
            seconds = time.perf_counter() - began
            if message["status"] != "completed":
                raise SystemExit(f"job {n} {message['status']}: {(output_dir / 'error.json').read_text()}")
            rows.append(row(n, seconds, output_dir))
    finally:
        worker.stdin.close()
        worker.wait(timeout=60)
    return rows


def one_shot_series(root: Path, args: argparse.Namespace) -> list[dict]:
    rows = []
    for n in range(1, args.jobs + 1):
        input_dir, output_dir = write_job(root / "one-shot", n, args)
        began = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "processing", "run", "--input-dir", str(input_dir),
                                "--output-dir", str(output_dir), *flags(args)], cwd=REPO_ROOT)
        seconds = time.perf_counter() - began
        if code != 0:
            raise SystemExit(f"job {n} exited {code}: {(output_dir / 'error.json').read_text()}")
        rows.append(row(n, seconds, output_dir))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vb-bench-") as tmp:
        root = Path(tmp)
        modes = {m.strip() for m in args.modes.split(",") if m.strip()}
        results = {}
        if "resident" in modes:
            results["resident"] = resident_series(root, args)
        if "one-shot" in modes:
            results["one_process_per_job"] = one_shot_series(root, args)
    machine = f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.1f}"
    if args.json:
        print(json.dumps({"model": args.model, "device": args.device, "frames": args.frames, "steps": args.steps,
                          "machine": machine, **results}, indent=2))
        return 0
    print(f"{args.model} on {args.device}, {args.frames} frames, {args.steps} steps; {machine}")
    columns = ("job", "submit_to_mp4_s", "resident", "load_s", "denoise_s", "decode_s", "encode_s")
    print(f"{'mode':<20} " + " ".join(f"{c:>15}" for c in columns))
    for mode, rows in results.items():
        for r in rows:
            print(f"{mode:<20} " + " ".join(f"{str(r[c]):>15}" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
