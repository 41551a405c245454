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
