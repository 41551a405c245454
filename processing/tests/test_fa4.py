"""FlashAttention-4 selection and the op around it, on CPU.

The kernel itself needs a Hopper/Blackwell GPU (numbers in docs/performance.md); here a stand-in
`flash_attn.cute.interface` module (same function name and (B, S, H, D) layout as the package)
records what the op hands it, so the selection, the no-copy views, the single compiled graph and
the fallbacks are checked where CI runs."""
from __future__ import annotations

import os
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from processing import fa4, optimize


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(fa4, "STATE", fa4.KernelState())


@pytest.fixture
def stand_in_kernel(monkeypatch):
    """A `flash_attn.cute.interface` whose flash_attn_func computes attention on (B, S, H, D) and
    records each call's query (pointer, strides); `calls` is that record, `fail` makes it raise."""
    calls, behaviour = [], {"fail": None}

    def flash_attn_func(q, k, v, softmax_scale=None, causal=False):
        if behaviour["fail"] is not None:
            raise behaviour["fail"]
        calls.append({"data_ptr": q.data_ptr(), "stride": q.stride(), "shape": tuple(q.shape)})
        out = F.scaled_dot_product_attention(q.transpose(1, 2).float(), k.transpose(1, 2).float(),
                                             v.transpose(1, 2).float())
        return out.transpose(1, 2).contiguous().to(q.dtype), None  # (out, lse) as the package returns

    package = types.ModuleType("flash_attn")
    cute = types.ModuleType("flash_attn.cute")
    interface = types.ModuleType("flash_attn.cute.interface")
    interface.flash_attn_func = flash_attn_func
    package.cute, cute.interface = cute, interface
    for name, module in (("flash_attn", package), ("flash_attn.cute", cute), ("flash_attn.cute.interface", interface)):
        monkeypatch.setitem(sys.modules, name, module)
    fa4.import_error.cache_clear()
    yield calls, behaviour
    fa4.import_error.cache_clear()


def processor_layout(batch=2, heads=3, tokens=40, head_dim=16, dtype=torch.bfloat16, seed=0):
    """q, k, v as CogVideoXAttnProcessor makes them: (B, H, S, D) views of one (B, S, 3·H·D) projection."""
    g = torch.Generator().manual_seed(seed)
    qkv = torch.randn(batch, tokens, 3 * heads * head_dim, generator=g).to(dtype)
    return tuple(t.view(batch, tokens, heads, head_dim).transpose(1, 2) for t in qkv.chunk(3, dim=-1))


@pytest.mark.parametrize("capability, installed, kernel", [
    (None, True, "default"),       # no GPU
    ((8, 0), True, "default"),     # A100: PyTorch's own SDPA choice
    ((8, 9), True, "default"),     # L4 / L40S
    ((9, 0), True, "fa4"),         # H100 / H200
    ((9, 0), False, "cudnn"),      # Hopper without the package: today's choice
    ((10, 0), True, "fa4"),        # B200
    ((10, 3), True, "fa4"),        # B300
    ((10, 0), False, "cudnn"),
    ((12, 0), True, "cudnn"),      # consumer Blackwell: never measured here
])
def test_kernel_choice_by_gpu_and_package(capability, installed, kernel):
    assert fa4.choose(capability, installed) == kernel


@pytest.mark.parametrize("capability, installed, kernel", [((9, 0), True, "fa4"), ((9, 0), False, "cudnn"),
                                                           ((8, 9), True, "default")])
def test_speeds_pick_the_kernel_on_a_gpu(monkeypatch, capability, installed, kernel):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: capability)
    monkeypatch.setattr(fa4, "available", lambda: installed)
    assert optimize.options_for("lossless", "cuda").attention == kernel
    assert optimize.options_for("fast", "cuda").attention == kernel
    assert optimize.options_for("stock", "cuda").attention == "default"
    assert optimize.options_for("lossless", "cpu").attention == "default"


def test_a_missing_package_is_reported_not_raised(monkeypatch):
    monkeypatch.setitem(sys.modules, "flash_attn", None)  # import flash_attn raises ImportError
    fa4.import_error.cache_clear()
    try:
        assert not fa4.available() and "flash_attn" in fa4.import_error()
    finally:
        fa4.import_error.cache_clear()


def test_the_kernel_gets_strided_views_without_a_copy_and_matches_sdpa(stand_in_kernel):
    calls, _ = stand_in_kernel
    q, k, v = processor_layout()
    out = optimize.attention(q, k, v, "fa4")
    reference = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    assert out.shape == q.shape and out.dtype == q.dtype
    assert (out.float() - reference).norm() / reference.norm() < 1e-2
    # The (B, S, H, D) view of the projection itself: same memory, its strides, no contiguous copy.
    assert calls == [{"data_ptr": q.data_ptr(), "stride": q.transpose(1, 2).stride(), "shape": (2, 40, 3, 16)}]
    assert fa4.STATE.calls == 1 and fa4.STATE.ran() == "fa4"


def test_the_op_keeps_the_compiled_block_one_graph(stand_in_kernel):
    """A custom op is opaque to Dynamo: the block around it compiles whole (fullgraph=True)."""
    from torch._dynamo.testing import CompileCounter

    calls, _ = stand_in_kernel
    heads, head_dim = 3, 16
    qkv = torch.randn(2, 40, 3 * heads * head_dim, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)

    def block(qkv):  # as in the processor: the projection's output viewed per head inside the block
        q, k, v = (t.view(2, 40, heads, head_dim).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
        q = F.layer_norm(q, (head_dim,))
        return optimize.attention(q, k, v, "fa4").transpose(1, 2).flatten(2) * 2

    counter = CompileCounter()
    torch._dynamo.reset()
    try:
        compiled = torch.compile(block, fullgraph=True, backend=counter)
        out = compiled(qkv)
        assert counter.frame_count == 1 and len(calls) == 1
        assert torch.allclose(out.float(), block(qkv).float(), atol=1e-2)
    finally:
        torch._dynamo.reset()


@pytest.mark.parametrize("case", ["mask", "float32", "head_dim_256"])
def test_what_the_kernel_does_not_take_goes_to_sdpa(stand_in_kernel, case):
    calls, _ = stand_in_kernel
    q, k, v = processor_layout(dtype=torch.float32 if case == "float32" else torch.bfloat16,
                               head_dim=256 if case == "head_dim_256" else 16)
    mask = torch.ones(q.shape[0], 1, q.shape[2], q.shape[2], dtype=torch.bool) if case == "mask" else None
    out = optimize.attention(q, k, v, "fa4", attn_mask=mask)
    assert torch.allclose(out.float(), F.scaled_dot_product_attention(q, k, v, attn_mask=mask).float(), atol=1e-2)
    assert calls == []


def test_a_failing_kernel_falls_back_to_sdpa_for_the_rest_of_the_job(stand_in_kernel):
    calls, behaviour = stand_in_kernel
    behaviour["fail"] = RuntimeError("CuTe DSL: no kernel for this GPU")
    q, k, v = processor_layout()
    first = optimize.attention(q, k, v, "fa4")
    behaviour["fail"] = None  # even if it would work now, the job stays on one kernel
    second = optimize.attention(q, k, v, "fa4")
    reference = F.scaled_dot_product_attention(q, k, v).float()
    assert torch.allclose(first.float(), reference, atol=1e-2) and torch.allclose(second.float(), reference, atol=1e-2)
    assert calls == [] and fa4.STATE.ran() == "cudnn" and "no kernel for this GPU" in fa4.STATE.error


def test_out_of_memory_in_the_kernel_is_the_jobs_error(stand_in_kernel):
    _, behaviour = stand_in_kernel
    behaviour["fail"] = torch.cuda.OutOfMemoryError("CUDA out of memory")
    q, k, v = processor_layout()
    with pytest.raises(torch.cuda.OutOfMemoryError):
        optimize.attention(q, k, v, "fa4")
    assert fa4.STATE.error is None


def test_metadata_says_which_kernel_ran(stand_in_kernel):
    calls, behaviour = stand_in_kernel
    report = optimize.Report("lossless")
    report.attention = "fa4"
    q, k, v = processor_layout()
    optimize.attention(q, k, v, "fa4")
    assert report.to_json()["attention_ran"] == "fa4"
    assert report.to_json()["attention_fa4"] == {"calls": 1, "error": None, "disk_cache": None}
    behaviour["fail"] = RuntimeError("JIT failed")
    fa4.STATE.calls = 0
    fa4.STATE.error = None
    optimize.attention(q, k, v, "fa4")
    assert report.to_json()["attention_ran"] == "cudnn"
    assert "JIT failed" in report.to_json()["attention_fa4"]["error"]
    report.attention = "cudnn"
    assert report.to_json()["attention_ran"] == "cudnn" and "attention_fa4" not in report.to_json()


@pytest.fixture
def no_cache_setting(monkeypatch):
    monkeypatch.delenv(fa4.CACHE_ENABLED_ENV, raising=False)
    monkeypatch.delenv(fa4.CACHE_DIR_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "flash_attn.cute.cache_utils", raising=False)
    monkeypatch.setattr(fa4, "STATE", fa4.KernelState())
    return monkeypatch


def test_the_kernels_disk_cache_goes_in_the_folder_given(no_cache_setting, tmp_path):
    folder = tmp_path / "models" / "cogvideox-5b" / "compile-cache" / "fa4-NVIDIA-H200"
    assert fa4.use_disk_cache(folder) == str(folder) and folder.is_dir()
    assert os.environ[fa4.CACHE_ENABLED_ENV] == "1" and os.environ[fa4.CACHE_DIR_ENV] == str(folder)
    assert fa4.STATE.disk_cache == str(folder)
    # Read once, at the package's first import: a second job's folder changes nothing, and says so.
    no_cache_setting.setitem(sys.modules, "flash_attn.cute.cache_utils", object())
    assert fa4.use_disk_cache(tmp_path / "another") == str(folder) and not (tmp_path / "another").exists()


def test_no_disk_cache_where_the_folder_cannot_be_written(no_cache_setting, tmp_path):
    (tmp_path / "models").write_text("a file where the folder would go")
    assert fa4.use_disk_cache(tmp_path / "models" / "fa4") is None
    assert fa4.CACHE_ENABLED_ENV not in os.environ and fa4.STATE.disk_cache is None
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if os.access(read_only, os.W_OK):  # root writes anywhere: nothing to check here
        return
    assert fa4.use_disk_cache(read_only) is None and fa4.CACHE_ENABLED_ENV not in os.environ


def test_a_setting_from_the_environment_is_kept(no_cache_setting, tmp_path):
    no_cache_setting.setenv(fa4.CACHE_ENABLED_ENV, "0")
    assert fa4.use_disk_cache(tmp_path / "fa4") is None and not (tmp_path / "fa4").exists()
    no_cache_setting.setenv(fa4.CACHE_ENABLED_ENV, "1")
    no_cache_setting.setenv(fa4.CACHE_DIR_ENV, "/var/cache/fa4")
    assert fa4.use_disk_cache(tmp_path / "fa4") == "/var/cache/fa4"


def test_a_jobs_kernels_go_in_its_compile_cache_one_folder_per_gpu_type(no_cache_setting, tmp_path):
    optimize.keep_fa4_kernels(tmp_path / "compile-cache", "cpu")  # nothing to keep without a GPU
    optimize.keep_fa4_kernels(None, "cuda")  # nor without a compile cache
    assert fa4.CACHE_ENABLED_ENV not in os.environ
    optimize.keep_fa4_kernels(tmp_path / "compile-cache", "cuda")
    assert fa4.STATE.disk_cache == str(tmp_path / "compile-cache" / f"fa4-{optimize._gpu_slug()}")
