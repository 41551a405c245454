"""Benchmark: where the prewarm's seconds go (5b block, lossless, one GPU): FA4's first call, and the stand-in
block's compile with FA4 or cuDNN attention. Prints one JSON object; checks nothing (docs/performance.md).

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python -m processing.benchmarks.prewarm_probe [--no-fa4-calls] [fa4|cudnn ...]
"""
import dataclasses, json, os, sys, time
t0 = time.perf_counter()
import torch
from processing import optimize, fa4, families
from processing.benchmarks.bench import TRANSFORMER_5B
out = {"import_s": round(time.perf_counter() - t0, 2)}
fam = families.get("cogvideox"); fam.transformer_class()
torch.cuda.init(); torch.empty(1, device="cuda"); torch.cuda.synchronize()
out["cuda_init_s"] = round(time.perf_counter() - t0, 2) - out["import_s"]
shape = optimize.WarmShape(batch=2, frames=49, height=480, width=720, text_tokens=226)
calls = "--no-fa4-calls" not in sys.argv
q = None
if calls:  # FA4 alone at the 5b shape (B,H,S,D view as the seam takes it)
  q = torch.randn(2, 48, 17776, 64, device="cuda", dtype=torch.bfloat16)
  for i in range(3):
    t = time.perf_counter(); fa4.attention_bhsd(q, q, q); torch.cuda.synchronize(); out[f"fa4_call{i+1}_s"] = round(time.perf_counter() - t, 3)
del q
def prewarm(attention, tag):
    opts = dataclasses.replace(optimize.options_for("lossless", "cuda"), attention=attention)
    t = time.perf_counter()
    p = optimize.Prewarm(dict(TRANSFORMER_5B), opts, shape, dtype=torch.bfloat16, device="cuda", compile_cache_dir=None,
                         label=f"probe-{tag}", family=fam).start()
    r = p.wait()
    out[f"prewarm_{tag}"] = {"wall_s": round(time.perf_counter() - t, 2), **dataclasses.asdict(r)}
    torch._dynamo.reset()
    torch.cuda.empty_cache()
which = [a for a in sys.argv[1:] if not a.startswith("--")] or ["fa4", "default"]
for a in which:
    prewarm(a, a)
print(json.dumps(out, indent=1))
