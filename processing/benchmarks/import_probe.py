"""Where a job's seconds before the prewarm go: `import torch`, the pipeline's imports, FlashAttention-4's import,
CUDA's start; and whether starting CUDA (or importing FlashAttention-4) in a thread beside the imports helps.

    python -m processing.benchmarks.import_probe serial|thread|thread-fa4
    python -X importtime -m processing.benchmarks.import_probe serial 2> importtime.txt

Run each mode in a fresh process (the point is the first import). Prints one JSON line: seconds since the
start at each mark, and the thread's own times. On a machine without a GPU the CUDA part is skipped.
"""
from __future__ import annotations

import json
import sys
import threading
import time

MODES = ("serial", "thread", "thread-fa4")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    mode = argv[0] if argv else "serial"
    if mode not in MODES:
        print(f"mode: one of {', '.join(MODES)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    out: dict = {"mode": mode}

    def mark(name: str) -> None:
        out[name] = round(time.perf_counter() - started, 3)

    import torch

    mark("torch")
    side: dict = {}

    def cuda_start() -> None:
        began = time.perf_counter()
        if torch.cuda.is_available():
            torch.cuda.init()
            torch.empty(1, device="cuda")
            torch.cuda.synchronize()
            torch.cuda.get_device_capability()
        side["cuda_s"] = round(time.perf_counter() - began, 3)
        if mode == "thread-fa4":
            from processing import fa4

            fa4.import_error()
            side["fa4_s"] = round(time.perf_counter() - began, 3)

    thread = threading.Thread(target=cuda_start) if mode.startswith("thread") else None
    if thread is not None:
        thread.start()
    from processing import optimize, pipeline  # noqa: F401 - what the job imports first
    from processing.families import get

    mark("processing")
    family = get("cogvideox")
    from diffusers import CogVideoXPipeline  # noqa: F401 - the pipeline class: diffusers, transformers, T5

    family.transformer_class()
    mark("pipeline_imports")
    if thread is not None:
        thread.join()
        mark("thread_joined")
    else:
        cuda_start()
        mark("cuda")
    from processing import fa4

    out["fa4_error"] = fa4.import_error()
    mark("fa4_import")
    out["side"] = side
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
