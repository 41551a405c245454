"""processing/loader.py: the two-half load gives what `from_pretrained` gives, tensor for tensor, or refuses."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from processing import loader, pipeline
from processing.families import get
from processing.presets import load_presets

FAMILY = get("cogvideox")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The tiny CogVideoX saved as `save_pretrained` writes a real one, in float32, with sharded files."""
    preset = load_presets().get("tiny-random")
    folder = tmp_path_factory.mktemp("tiny-saved")
    pipe = FAMILY.pipeline_class(preset, "t2v")(**FAMILY.tiny_components(preset, "t2v"))
    pipe.save_pretrained(folder, safe_serialization=True, max_shard_size="40KB")
    return preset, folder


def stock(preset, folder, dtype):
    return FAMILY.pipeline_class(preset, "t2v").from_pretrained(folder, torch_dtype=dtype)


def assert_same_model(ours, theirs, name):
    assert type(ours) is type(theirs) and ours.training is theirs.training is False, name
    a, b = ours.state_dict(keep_vars=True), theirs.state_dict(keep_vars=True)
    assert list(a) == list(b), name
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].device == b[key].device, (name, key, a[key].dtype, b[key].dtype)
        assert torch.equal(a[key], b[key]), (name, key)
        assert a[key].requires_grad == b[key].requires_grad, (name, key)
    buffers_a, buffers_b = dict(ours.named_buffers()), dict(theirs.named_buffers())  # non-persistent ones too
    assert list(buffers_a) == list(buffers_b), name
    for key in buffers_a:
        assert buffers_a[key].dtype == buffers_b[key].dtype and torch.equal(buffers_a[key], buffers_b[key]), (name, key)
    config_a = ours.config.to_dict() if hasattr(ours.config, "to_dict") else dict(ours.config)
    config_b = theirs.config.to_dict() if hasattr(theirs.config, "to_dict") else dict(theirs.config)
    assert config_a == config_b, name


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_the_two_halves_load_what_from_pretrained_loads(saved, dtype):
    preset, folder = saved
    assert len(loader.shards(folder / "transformer", "diffusers")) > 1  # the sharded layout is exercised
    assert len(loader.shards(folder / "text_encoder", "transformers")) > 1
    ours, theirs = loader.load(FAMILY.pipeline_class(preset, "t2v"), folder, dtype, "cpu"), stock(preset, folder, dtype)
    assert torch.get_default_dtype() == torch.float32  # put back after building
    for name in ("transformer", "vae", "text_encoder"):
        assert_same_model(getattr(ours, name), getattr(theirs, name), name)
    # T5's embedding is one tensor under two names, as from_pretrained ties it.
    assert ours.text_encoder.shared.weight is ours.text_encoder.encoder.embed_tokens.weight
    if dtype == torch.float16:  # T5 keeps its feed-forward output in float32 under float16 (_keep_in_fp32_modules)
        assert ours.text_encoder.encoder.block[0].layer[1].DenseReluDense.wo.weight.dtype == torch.float32
    assert type(ours.tokenizer) is type(theirs.tokenizer) and ours.tokenizer("a fox").input_ids == theirs.tokenizer("a fox").input_ids
    assert dict(ours.scheduler.config) == dict(theirs.scheduler.config)
    assert dict(ours.config) == dict(theirs.config)


def test_a_job_on_the_two_halves_makes_the_same_frames(saved):
    preset, folder = saved
    ours, theirs = loader.load(FAMILY.pipeline_class(preset, "t2v"), folder, torch.float32, "cpu"), stock(preset, folder, torch.float32)
    frames = []
    for pipe in (ours, theirs):
        FAMILY.configure(pipe, preset)
        pipe.set_progress_bar_config(disable=True)
        frames.append(pipeline.generate(pipe, preset=preset, mode="t2v", prompt="a fox", negative_prompt="", seed=5,
                                        frames=9, steps=2, guidance=6.0, height=64, width=96, device="cpu"))
    np.testing.assert_array_equal(*frames)


def copy_of(folder, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_a_key_the_model_does_not_have_is_refused(saved, tmp_path):
    from safetensors.torch import load_file, save_file

    preset, folder = saved
    target = copy_of(folder, tmp_path)
    vae_file = loader.shards(target / "vae", "diffusers")[0]
    tensors = load_file(vae_file)
    tensors["encoder.renamed_in_an_old_version.weight"] = torch.zeros(2)
    save_file(tensors, vae_file)
    skeleton = loader.empty_pipeline(FAMILY.pipeline_class(preset, "t2v"), target, torch.bfloat16)
    with pytest.raises(loader.Unsupported, match="renamed_in_an_old_version"):
        skeleton.fill("cpu")


def test_a_parameter_no_file_holds_is_refused(saved, tmp_path):
    from safetensors.torch import load_file, save_file

    preset, folder = saved
    target = copy_of(folder, tmp_path)
    vae_file = loader.shards(target / "vae", "diffusers")[0]
    tensors = load_file(vae_file)
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, vae_file)
    skeleton = loader.empty_pipeline(FAMILY.pipeline_class(preset, "t2v"), target, torch.bfloat16)
    with pytest.raises(loader.Unsupported, match="no file holds"):
        skeleton.fill("cpu")
    with pytest.raises(RuntimeError):
        skeleton.pipeline()


def test_a_layout_without_safetensors_is_refused(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "X"}))
    with pytest.raises(loader.Unsupported):
        loader.shards(tmp_path, "diffusers")


# --- the reader: safetensors files onto the device, in ranges and chunks --------------------------------

def odd_tensors() -> dict[str, torch.Tensor]:
    """Every dtype the reader knows, odd sizes (tensors that straddle chunks and ranges), a scalar, an empty one."""
    g = torch.Generator().manual_seed(3)
    out = {
        "a.f32": torch.randn(37, 11, generator=g),
        "b.f16": torch.randn(501, generator=g).half(),
        "c.bf16": torch.randn(3, 5, 7, generator=g).bfloat16(),
        "d.f64": torch.randn(13, generator=g).double(),
        "e.i64": torch.arange(-20, 19),
        "f.i32": torch.arange(9, dtype=torch.int32),
        "g.i16": torch.arange(5, dtype=torch.int16),
        "h.i8": torch.arange(-3, 4, dtype=torch.int8),
        "i.u8": torch.arange(250, 256, dtype=torch.uint8),
        "j.bool": torch.tensor([True, False, True]),
        "k.fp8": torch.randn(17, generator=g).to(torch.float8_e4m3fn),
        "l.fp8b": torch.randn(19, generator=g).to(torch.float8_e5m2),
        "m.scalar": torch.tensor(2.5),
        "n.empty": torch.zeros(0, 4),
    }
    return out


def saved_pipeline_files(tmp_path, shards: list[dict[str, torch.Tensor]]):
    """A saved pipeline's layout: model_index.json, a sharded transformer, a tokenizer folder without weights."""
    from safetensors.torch import save_file

    (tmp_path / "model_index.json").write_text(json.dumps({
        "_class_name": "X", "transformer": ["diffusers", "Model"], "tokenizer": ["transformers", "T5Tokenizer"],
        "scheduler": ["diffusers", "Sched"], "safety_checker": [None, None]}))
    folder = tmp_path / "transformer"
    folder.mkdir()
    (tmp_path / "tokenizer").mkdir()
    weight_map = {}
    for i, tensors in enumerate(shards):
        name = f"diffusion_pytorch_model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(tensors, folder / name, metadata={"format": "pt"})
        weight_map.update({key: name for key in tensors})
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a GPU: pinned buffers and a stream per thread"))])
@pytest.mark.parametrize("chunk,span", [(64, 256), (7, 7), (1 << 20, 1 << 22)], ids=["small", "odd", "whole"])
def test_the_reader_reads_what_safetensors_reads(tmp_path, monkeypatch, device, chunk, span):
    from safetensors.torch import load_file

    tensors = odd_tensors()
    keys = sorted(tensors)
    folder = saved_pipeline_files(tmp_path, [{k: tensors[k] for k in keys[:9]}, {k: tensors[k] for k in keys[9:]}])
    monkeypatch.setattr(loader.Reader, "CHUNK", chunk)
    monkeypatch.setattr(loader.Reader, "RANGE", span)
    reader = loader.Reader(tmp_path, device, threads=3).start()
    got = reader.result()
    assert list(got) == ["transformer"]  # the tokenizer has no weights; the scheduler is not a model
    expected = {}
    for path in loader.shards(folder, "diffusers"):
        expected.update(load_file(path))
    assert sorted(got["transformer"]) == sorted(expected) == keys
    for key, tensor in expected.items():
        ours = got["transformer"][key]
        assert ours.dtype == tensor.dtype and ours.shape == tensor.shape and ours.device.type == device, key
        assert torch.equal(loader._bytes_of(ours.cpu()), loader._bytes_of(tensor)), key  # bit for bit, NaNs too
    assert reader.bytes == sum(t.numel() * t.element_size() for t in tensors.values())
    assert reader.seconds is not None


def test_the_reader_refuses_what_it_does_not_read(tmp_path):
    folder = saved_pipeline_files(tmp_path, [{"w": torch.ones(4)}])
    (path,) = loader.shards(folder, "diffusers")
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])

    def rewrite(new_header: dict, tail: bytes) -> None:
        text = json.dumps(new_header).encode()
        path.write_bytes(len(text).to_bytes(8, "little") + text + tail)

    rewrite(header, data[8 + size:-4])  # the file ends before its last tensor does
    with pytest.raises(loader.Unsupported, match="does not fit"):
        loader.Reader(tmp_path, "cpu").start().result()
    rewrite({**header, "w": {**header["w"], "dtype": "F4"}}, data[8 + size:])
    with pytest.raises(loader.Unsupported, match="dtype F4"):
        loader.Reader(tmp_path, "cpu").start().result()
    path.write_bytes(b"\xff" * 16)
    with pytest.raises(loader.Unsupported, match="not a safetensors file"):
        loader.Reader(tmp_path, "cpu").start().result()


def test_the_fill_puts_what_the_reader_read_in_place(saved):
    """The job's way: the reader started first (beside the imports), the skeleton filled from its result."""
    preset, folder = saved
    reader = loader.Reader(folder, "cpu").start()
    skeleton = loader.empty_pipeline(FAMILY.pipeline_class(preset, "t2v"), folder, torch.bfloat16)
    skeleton.fill("cpu", reader.result())
    ours, theirs = skeleton.pipeline(), stock(preset, folder, torch.bfloat16)
    for name in ("transformer", "vae", "text_encoder"):
        assert_same_model(getattr(ours, name), getattr(theirs, name), name)
