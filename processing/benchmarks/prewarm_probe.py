"""Benchmark: where the prewarm's seconds go (5b block, lossless, one GPU): FA4's first call, and the stand-in
block's compile with FA4 or cuDNN attention. Prints one JSON object; checks nothing (docs/performance.md).

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python -m processing.benchmarks.prewarm_probe [--no-fa4-calls] [fa4|cudnn ...]
"""
import dataclasses
import json
import sys
import time


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    import torch

    from processing import families, fa4, optimize
    from processing.benchmarks.bench import TRANSFORMER_5B

    out: dict = {"import_s": round(time.perf_counter() - t0, 2)}
    family = families.get("cogvideox")
    family.transformer_class()
    torch.cuda.init()
    torch.empty(1, device="cuda")
    torch.cuda.synchronize()
    out["cogvideox_import_and_cuda_start_s"] = round(time.perf_counter() - t0 - out["import_s"], 2)
    shape = optimize.WarmShape(batch=2, frames=49, height=480, width=720, text_tokens=226)
    if "--no-fa4-calls" not in argv:  # FA4 alone at the 5b attention shape: its JIT, then warm calls
        q = torch.randn(2, 48, 17776, 64, device="cuda", dtype=torch.bfloat16)
        for i in range(3):
            began = time.perf_counter()
            fa4.attention_bhsd(q, q, q)
            torch.cuda.synchronize()
            out[f"fa4_call{i + 1}_s"] = round(time.perf_counter() - began, 3)
        del q
    for attention in [a for a in argv if not a.startswith("--")] or ["fa4", "cudnn"]:
        options = dataclasses.replace(optimize.options_for("lossless", "cuda"), attention=attention)
        began = time.perf_counter()
        result = optimize.Prewarm(dict(TRANSFORMER_5B), options, shape, dtype=torch.bfloat16, device="cuda",
                                  compile_cache_dir=None, label=f"probe-{attention}", family=family).start().wait()
        out[f"prewarm_{attention}"] = {"wall_s": round(time.perf_counter() - began, 2), **dataclasses.asdict(result)}
        torch._dynamo.reset()
        torch.cuda.empty_cache()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
