"""Memory-plan choice and weight resolution: the decisions made before any model loads."""
from __future__ import annotations

import pytest

from processing.errors import JobError
from processing.pipeline import RESIDENT_FACTOR, choose_memory_plan, resolve_dtype, resolve_weights
from processing.presets import load_presets

PRESETS = load_presets()
FIVE_B = PRESETS.get("cogvideox-5b")


@pytest.mark.parametrize("free_gib, plan", [
    (FIVE_B.min_gpu_gib * RESIDENT_FACTOR + 1, "none"),
    (FIVE_B.min_gpu_gib + 1, "model"),
    (FIVE_B.min_gpu_gib - 1, "sequential"),
])
def test_auto_plan_follows_free_memory(free_gib, plan):
    assert choose_memory_plan("auto", "cuda", FIVE_B, free_gib) == plan


def test_more_frames_than_the_default_need_more_memory_to_stay_resident():
    one_five = PRESETS.get("cogvideox1.5-5b")
    default = one_five.frames.default
    assert choose_memory_plan("auto", "cuda", one_five, 79.2, default) == "none"
    assert choose_memory_plan("auto", "cuda", one_five, 79.2, one_five.frames.max) == "model"
    assert choose_memory_plan("auto", "cuda", one_five, 79.2, one_five.frames.min) == "none"


def test_explicit_plan_wins_on_gpu_and_cpu_is_always_none():
    assert choose_memory_plan("sequential", "cuda", FIVE_B, 500.0) == "sequential"
    assert choose_memory_plan("model", "cpu", FIVE_B, None) == "none"
    assert choose_memory_plan("auto", "cpu", FIVE_B, None) == "none"


def test_dtype_comes_from_the_preset():
    assert resolve_dtype(FIVE_B, "cuda") == "bfloat16"
    assert resolve_dtype(PRESETS.get("cogvideox-2b"), "cuda") == "float16"
    assert resolve_dtype(PRESETS.get("cogvideox-2b"), "cpu") == "float32"


def test_weights_resolution(tmp_path):
    assert resolve_weights(PRESETS.get("tiny-random"), tmp_path, False) is None
    assert resolve_weights(FIVE_B, tmp_path, True) == "THUDM/CogVideoX-5b"
    with pytest.raises(JobError) as info:
        resolve_weights(FIVE_B, tmp_path, False)
    assert info.value.code == "MODEL_NOT_AVAILABLE" and str(tmp_path / "cogvideox-5b") in info.value.message
    (tmp_path / "cogvideox-5b").mkdir()
    (tmp_path / "cogvideox-5b" / "model_index.json").write_text("{}")
    assert resolve_weights(FIVE_B, tmp_path, False) == str(tmp_path / "cogvideox-5b")
