"""Model families: everything that differs between CogVideoX, Wan, ... behind one small interface.

presets.json's `family` names a module here (`"wan"` -> processing/families/wan.py) whose `FAMILY`
implements `Family`. Adding a family is one new file here plus its presets.json rows; pipeline.py,
job.py and optimize.py only talk to this interface (docs/processing.md, "Model families").
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from torch import nn

    from processing.optimize import WarmShape
    from processing.presets import Preset

HERE = Path(__file__).resolve().parent


class Family(Protocol):
    """What a model family tells the job. Every method is called with the job's preset."""

    name: str
    # optimize.py: the fast speed's step cache needs a block signature it knows (CogVideoX's)
    step_cache: bool
    # optimize.Prewarm can build a one-block stand-in and its inputs before the weights load
    prewarm: bool

    def pipeline_class(self, preset: "Preset", mode: str) -> type:
        """The diffusers pipeline class for t2v or i2v."""

    def from_pretrained(self, preset: "Preset", mode: str, weights: str, dtype, **kwargs):
        """The pipeline with its weights (kwargs: local_files_only, device_map)."""

    def tiny_components(self, preset: "Preset", mode: str) -> dict:
        """A test model's components, built from config with seeded random weights (no download)."""

    def configure(self, pipe, preset: "Preset") -> None:
        """After loading: the scheduler and anything else the preset fixes."""

    def call_arguments(self, preset: "Preset", mode: str) -> dict:
        """The family's own keyword arguments for the one pipeline call (pipeline.generate)."""

    def blocks(self, transformer) -> "list[nn.Module]":
        """The transformer's repeated blocks (compiled regionally, made fp8)."""

    def patch_attention(self, block: "nn.Module", fuse: bool, kernel: str) -> int:
        """Fuses the block's projections if asked and routes its attention through optimize.attention
        with `kernel`; returns how many projections were fused."""

    def wrap_blocks(self, transformer, blocks: "list[nn.Module]", cache) -> None:
        """Puts the block list (layout fix-ups, the step cache when `step_cache`) in place."""

    def transformer_class(self) -> type:
        """For prewarm: the transformer class to build a one-block stand-in from its config."""

    def warm_inputs(self, model, shape: "WarmShape", device, dtype) -> dict:
        """For prewarm: random transformer inputs shaped like the job's call."""


def names() -> list[str]:
    """The families there are: one module per family in this folder."""
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem != "__init__")


def get(name: str) -> Family:
    if name not in names():
        raise ValueError(f"unknown model family {name!r}; families: {', '.join(names())}")
    return importlib.import_module(f"processing.families.{name}").FAMILY


def family_of(preset: "Preset") -> Family:
    return get(preset.family)




def of_transformer(transformer) -> Family:
    """The family whose transformer class this is (for code given a bare pipeline: tests, benchmarks)."""
    for name in names():
        family = get(name)
        if isinstance(transformer, family.transformer_class()):
            return family
    raise ValueError(f"no model family knows the transformer {type(transformer).__name__}")
