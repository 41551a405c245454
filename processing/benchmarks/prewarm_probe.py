"""Benchmark: where the prewarm's seconds go (5b block, lossless, one GPU): FA4's first call, and the stand-in
block's compile with FA4 or cuDNN attention. Prints one JSON object; checks nothing (docs/performance.md).

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python -m processing.benchmarks.prewarm_probe [--no-fa4-calls] [fa4|cudnn ...]

`cached MODELS_DIR [--profile]`: the prewarm alone as a job with both compile caches runs it (5b, lossless, the
caches in MODELS_DIR/cogvideox-5b/compile-cache, as the first job or `models stage` wrote them), its phases
timed, and with --profile under cProfile (the 70 slowest calls by cumulative and by own time follow the JSON).
"""
import cProfile
import dataclasses
import io
import json
import pstats
import sys
import time
from pathlib import Path


def cached(models: Path, profile: bool) -> int:
    t0 = time.perf_counter()
    import torch

    from processing import families, fa4, optimize

    family = families.get("cogvideox")
    from diffusers import CogVideoXPipeline  # noqa: F401 - the job's imports, before the prewarm as in a job

    family.transformer_class()
    out: dict = {"imports_s": round(time.perf_counter() - t0, 2)}
    cache = optimize.compile_cache_dir(models, "cogvideox-5b")
    optimize.keep_fa4_kernels(cache, "cuda")
    fa4.import_error()
    torch.empty(1, device="cuda")
    torch.cuda.synchronize()
    config = json.loads((models / "cogvideox-5b" / "transformer" / "config.json").read_text())
    shape = optimize.WarmShape(batch=2, frames=49, height=480, width=720, text_tokens=226)
    prewarm = optimize.Prewarm(config, optimize.options_for("lossless", "cuda"), shape, dtype=torch.bfloat16,
                               device="cuda", compile_cache_dir=cache, label="cogvideox-5b", family=family)
    stand_in = prewarm._stand_in

    def timed_stand_in():
        began = time.perf_counter()
        model = stand_in()
        out["stand_in_s"] = round(time.perf_counter() - began, 3)
        return model

    prewarm._stand_in = timed_stand_in
    profiler = cProfile.Profile() if profile else None
    began = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    prewarm._run()  # in this thread, so that cProfile sees it
    if profiler is not None:
        profiler.disable()
    out["prewarm_s"] = round(time.perf_counter() - began, 3)
    out["result"] = dataclasses.asdict(prewarm.result)
    from torch._dynamo.utils import compile_times

    out["compile_times"] = compile_times(repr="str")
    print(json.dumps(out, indent=1))
    if profiler is not None:
        for order in ("cumulative", "tottime"):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(70)
            print(text.getvalue())
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["cached"]:
        return cached(Path(argv[1]), "--profile" in argv)
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
