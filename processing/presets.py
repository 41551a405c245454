"""Model presets, loaded from presets.json (shared with the bot) into frozen dataclasses."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

PRESETS_PATH = Path(__file__).with_name("presets.json")


@dataclass(frozen=True)
class NumberRule:
    min: float
    max: float
    default: float


@dataclass(frozen=True)
class FrameRule:
    step: int
    min: int
    max: int
    default: int

    def allows(self, frames: int) -> bool:
        return self.min <= frames <= self.max and (frames - 1) % self.step == 0

    def describe(self) -> str:
        if self.min == self.max:
            return f"exactly {self.min} frames"
        return f"{self.step}N+1 frames between {self.min} and {self.max} (e.g. {self.default})"


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    hf_id: str | None
    family: str  # the model family: a module in processing/families/
    generation: str  # the family's model generation ("1.0", "1.5", "2.2"): i2v siblings share it
    modes: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]  # (height, width)
    frames: FrameRule
    fps: int
    steps: NumberRule
    guidance: NumberRule
    dtype: str
    scheduler: str
    dynamic_cfg: bool
    max_text_tokens: int
    min_gpu_gib: float
    test_only: bool
    # Free GPU memory for keeping every component resident at the default frame count, where
    # measured; otherwise pipeline.RESIDENT_FACTOR x min_gpu_gib (docs/performance.md).
    resident_gpu_gib: float | None = None
    license: str = ""
    negative_prompt: str = ""  # the family's recommended default, used when a job gives none
    family_options: dict = field(default_factory=dict, hash=False)  # read only by the family (e.g. Wan's flow_shift)

    @classmethod
    def from_json(cls, name: str, raw: dict) -> "Preset":
        return cls(
            name=name,
            label=raw["label"],
            hf_id=raw.get("hf_id"),
            family=raw["family"],
            generation=raw["generation"],
            modes=tuple(raw["modes"]),
            sizes=tuple((int(h), int(w)) for h, w in raw["sizes"]),
            frames=FrameRule(**raw["frames"]),
            fps=int(raw["fps"]),
            steps=NumberRule(**raw["steps"]),
            guidance=NumberRule(**raw["guidance"]),
            dtype=raw["dtype"],
            scheduler=raw["scheduler"],
            dynamic_cfg=bool(raw["dynamic_cfg"]),
            max_text_tokens=int(raw["max_text_tokens"]),
            min_gpu_gib=float(raw["min_gpu_gib"]),
            test_only=bool(raw["test_only"]),
            resident_gpu_gib=float(raw["resident_gpu_gib"]) if raw.get("resident_gpu_gib") is not None else None,
            license=raw.get("license", ""),
            negative_prompt=raw.get("negative_prompt", ""),
            family_options=dict(raw.get("family_options", {})),
        )

    def describe_sizes(self) -> str:
        return " or ".join(f"{w}x{h}" for h, w in self.sizes)


@dataclass(frozen=True)
class Presets:
    default: str
    by_name: dict[str, Preset]

    def get(self, name: str) -> Preset | None:
        return self.by_name.get(name)

    def names(self) -> list[str]:
        return list(self.by_name)


def load_presets(path: Path = PRESETS_PATH) -> Presets:
    raw = json.loads(path.read_text(encoding="utf-8"))
    by_name = {name: Preset.from_json(name, body) for name, body in raw["presets"].items()}
    from processing import families  # no torch: the family modules import it lazily

    for preset in by_name.values():
        if preset.family not in families.names():
            raise ValueError(f"{path}: {preset.name}'s family {preset.family!r} is not one of "
                             f"{', '.join(families.names())} (processing/families/)")
    if raw["default"] not in by_name:
        raise ValueError(f"{path}: default preset {raw['default']!r} is not defined")
    return Presets(default=raw["default"], by_name=by_name)
