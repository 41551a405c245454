"""Benchmark: how fast a saved pipeline's weights reach the device, through processing/loader.py's Reader (pinned
buffers, a stream per thread) and through safetensors' own loader (`safe_open(..., device=...)`, as the two-half
loader did before session 8). Prints one JSON object; run it twice for the page cache's numbers.

    python -m processing.benchmarks.reader_bench MODEL_DIR [--device cuda] [--threads 8] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reader_bench")
    parser.add_argument("folder", type=Path, help="a saved pipeline (model_index.json and the models' folders)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    import torch
    from safetensors import safe_open

    from processing import loader

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def reader() -> int:
        r = loader.Reader(args.folder, args.device, threads=args.threads).start()
        r.result()
        return r.bytes

    def safetensors() -> int:
        files = [f for paths in loader.weight_files(args.folder).values() for f in paths]

        def one(path: Path) -> int:
            with safe_open(str(path), framework="pt", device=args.device) as f:
                return sum(t.numel() * t.element_size() for t in (f.get_tensor(k) for k in f.keys()))

        with ThreadPoolExecutor(max_workers=max(1, min(args.threads, len(files)))) as pool:
            return sum(pool.map(one, files))

    out: dict = {"folder": str(args.folder), "device": args.device, "threads": args.threads}
    for name, read in (("reader", reader), ("safetensors", safetensors)):
        runs = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            size = read()
            sync()
            seconds = time.perf_counter() - began
            runs.append({"seconds": round(seconds, 3), "gb_per_s": round(size / 1e9 / seconds, 2)})
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
        out[name] = {"bytes": size, "runs": runs}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
