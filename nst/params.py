"""Parameters of a style-transfer run: one validated object shared by the API, CLI and server.

Every field has a default, a type and an allowed range. `Params.from_dict` refuses unknown
keys and says which field is wrong and what is allowed, so the CLI and the HTTP server can
pass the message straight to the person who made the mistake.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nst.errors import ParamsError

# Quality presets set the working size, the iterations at the finest scale and the number of
# coarse-to-fine scales. Coarser scales get more iterations (engine.schedule), where each is
# cheap. Chosen with bench/bench_quality.py against the reference on 16 photo/painting pairs.
# "full" works up to the content's own pixel size (size 0 = native): the scales above 512 px
# refine, in tiles where memory asks for them (nst/tiles.py).
# "reference" is canonical Gatys as jcjohnson/neural-style runs it with its defaults (from
# noise, plain L-BFGS, 1000 iterations at 512 px): the yardstick, slow by design.
# "coarse": where a preset's finest scale takes more steps than the doubling rule gives, the
# scales below it take coarse x 2, x 4... (normal: 60 at 256 px below its 50 at 512 px). Extra
# steps bought most at the finest scale: there 36 instead of 30 put 13 of 24 pairs within
# 1.1x of the reference on both losses instead of 10, for 9% more time, where 36 at every
# scale (72, 144 below) gave 12 for 20% more (docs/benchmarks.md, item 12).
# draft and normal have 2 scales: at 256 px, where bench/bench_quality.py scores them, that
# is what 3 gave (no scale goes below estimate.MIN_SCALE_SIZE). At 512 px a third scale at
# 128 px was a schedule the benchmark never scored: against 512 px references (4 pairs) it
# put content 1.07-1.26x the reference's where 2 scales give 0.97-1.16x, and took a quarter
# more time (items 13 and 14). With the time that saved, normal's finest scale takes 44 steps
# (36 before): content median 1.029 -> 0.995 on the 16 pairs, 14 of 24 pairs within 1.1x on
# both losses instead of 13 (item 15). 50 since the last scale's conv4_1 gain follows the
# pair (nst/balance.py, deep_boost), which raises the content loss of the pairs it pushes; the
# 6 steps take the content median back under 1.0 on the 16 pairs, for about 1.1 s more at
# 512 px (1/20.5-1/21.5 of the reference's time in three runs; item 16).
PRESETS: dict[str, dict[str, int]] = {
    "draft": {"size": 256, "iterations": 20, "scales": 2},
    "normal": {"size": 512, "iterations": 50, "coarse": 30, "scales": 2},
    "high": {"size": 1024, "iterations": 40, "scales": 4},
    "full": {"size": 0, "iterations": 10, "scales": 8},
    "reference": {"size": 512, "iterations": 1000, "scales": 1},
}
REFERENCE = "reference"
DEFAULT_QUALITY = "normal"

CHOICES: dict[str, tuple[str, ...]] = {
    "quality": tuple(PRESETS),
    "optimizer": ("lbfgs", "adam"),
    "init": ("content", "noise"),  # None: noise for the reference preset, else content
    "preserve_colors": ("none", "luminance", "histogram"),
    "pooling": ("max", "avg"),
    "device": ("auto", "cpu", "cuda", "mps"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
}

# (min, max) inclusive for numeric fields.
RANGES: dict[str, tuple[float, float]] = {
    "size": (32, 8192),
    "iterations": (1, 10000),
    "scales": (1, 8),
    "content_weight": (0.0, 1e6),
    "style_weight": (0.0, 1e6),
    "tv_weight": (0.0, 1e6),
    "style_scale": (0.1, 4.0),
    "learning_rate": (1e-4, 100.0),
    "seed": (0, 2**32 - 1),
    "style_blend_item": (0.0, 1e6),
    "tile_size": (128, 8192),
    "texture_side": (16, 8192),
}


@dataclass
class Params:
    """Settings of one run. `None` for size/iterations/scales means: take it from `quality`."""

    quality: str = DEFAULT_QUALITY
    size: int | None = None  # long edge of the working resolution, in pixels
    iterations: int | None = None  # optimiser steps at the finest scale
    scales: int | None = None  # coarse-to-fine levels (1 = single scale)
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    style_scale: float = 1.0  # size of the style image relative to the working size
    style_blend: list[float] | None = None  # one weight per style image; default equal
    preserve_colors: str = "none"
    init: str | None = None  # None: take it from quality (noise for reference, else content)
    optimizer: str = "lbfgs"
    learning_rate: float = 2.0  # Adam only, in 0..255 pixel units
    pooling: str = "max"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    weights: str = "caffe"  # "caffe", "torchvision" or a path to a VGG19 state dict
    content_layer: str = "conv4_2"
    style_layers: list[str] = field(
        default_factory=lambda: ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    )
    style_layer_weights: list[float] | None = None  # default equal
    tile_size: int | None = None  # tile core edge in px; None: tiles only where memory asks
    texture: list[int] | None = None  # [width, height]: paint a texture, no content (HTTP)
    tileable: bool = False  # a texture that repeats seamlessly (nst/texture.py)

    def __post_init__(self) -> None:
        self.validate()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Params:
        """Build from a plain dict (JSON, CLI); unknown keys are an error, not ignored."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParamsError(
                unknown[0], f"unknown parameter; known parameters are: {', '.join(sorted(known))}"
            )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Params:
        return dataclasses.replace(self, **changes)

    # -- derived values -------------------------------------------------------------------
    @property
    def working_size(self) -> int:
        """The long edge worked at; 0 means the content's own size (the full preset)."""
        return self.size if self.size is not None else PRESETS[self.quality]["size"]

    @property
    def is_native(self) -> bool:
        return self.working_size == 0

    @property
    def size_text(self) -> str:
        """The working size in words, for messages."""
        return "the image's own size" if self.is_native else f"{self.working_size} px"

    def working_size_for(self, long_edge: int) -> int:
        """An explicit size is used as given; a preset's never upscales a smaller image."""
        if self.size is not None:
            return self.size
        return long_edge if self.is_native else min(self.working_size, long_edge)

    @property
    def final_iterations(self) -> int:
        if self.iterations is not None:
            return self.iterations
        return PRESETS[self.quality]["iterations"]

    @property
    def coarse_iterations(self) -> int:
        """The scales below the finest take this x 2, x 4... (the user's `iterations` as is)."""
        if self.iterations is not None:
            return self.iterations
        preset = PRESETS[self.quality]
        return preset.get("coarse", preset["iterations"])

    @property
    def is_reference(self) -> bool:
        return self.quality == REFERENCE

    @property
    def initial(self) -> str:
        """The starting image: `init`, or the preset's (noise for the reference)."""
        if self.init is not None:
            return self.init
        return "noise" if self.is_reference else "content"

    @property
    def scale_count(self) -> int:
        return self.scales if self.scales is not None else PRESETS[self.quality]["scales"]

    # -- validation ---------------------------------------------------------------------
    def validate(self) -> None:
        for name, choices in CHOICES.items():
            value = getattr(self, name)
            if value is None and name == "init":
                continue
            if value not in choices:
                raise ParamsError(name, f"must be one of {', '.join(choices)} (got {value!r})")
        for name in ("size", "iterations", "scales", "seed", "tile_size"):
            value = getattr(self, name)
            if value is None and name != "seed":
                continue
            _check_int(name, value)
            _check_range(name, value)
        for name in ("content_weight", "style_weight", "tv_weight", "style_scale", "learning_rate"):
            value = getattr(self, name)
            _check_number(name, value)
            setattr(self, name, float(value))
            _check_range(name, value)
        if not isinstance(self.weights, str) or not self.weights:
            raise ParamsError("weights", "must be 'caffe', 'torchvision' or a path to a file")
        from nst.vgg import LAYER_NAMES  # local: vgg imports torch, params should stay light

        if self.content_layer not in LAYER_NAMES:
            raise ParamsError("content_layer", f"must be one of {', '.join(LAYER_NAMES)}")
        if not isinstance(self.style_layers, list) or not self.style_layers:
            raise ParamsError("style_layers", "must be a non-empty list of layer names")
        for layer in self.style_layers:
            if layer not in LAYER_NAMES:
                raise ParamsError(
                    "style_layers", f"unknown layer {layer!r}; use {', '.join(LAYER_NAMES)}"
                )
        self.style_layer_weights = _check_weights(
            "style_layer_weights", self.style_layer_weights, len(self.style_layers)
        )
        self.style_blend = _check_weights("style_blend", self.style_blend, None)
        if not isinstance(self.tileable, bool):
            raise ParamsError("tileable", f"must be true or false (got {self.tileable!r})")
        if self.texture is not None:
            if not isinstance(self.texture, (list, tuple)) or len(self.texture) != 2:
                raise ParamsError("texture", "must be [width, height] in pixels, e.g. [512, 512]")
            for side in self.texture:
                _check_int("texture", side)
                if not RANGES["texture_side"][0] <= side <= RANGES["texture_side"][1]:
                    low, high = RANGES["texture_side"]
                    raise ParamsError("texture", f"each side must be {low:g} to {high:g} px")
            self.texture = [int(v) for v in self.texture]


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(name, f"must be a whole number (got {value!r})")


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ParamsError(name, f"must be a number (got {value!r})")


def _check_range(name: str, value: float) -> None:
    low, high = RANGES[name]
    if not low <= value <= high:
        raise ParamsError(name, f"must be between {low:g} and {high:g} (got {value!r})")


def _check_weights(name: str, values: Any, length: int | None) -> list[float] | None:
    if values is None:
        return None
    if not isinstance(values, (list, tuple)) or not values:
        raise ParamsError(name, "must be a non-empty list of numbers")
    if length is not None and len(values) != length:
        raise ParamsError(name, f"must have {length} entries, one per layer (got {len(values)})")
    low, high = RANGES["style_blend_item"]
    for value in values:
        _check_number(name, value)
        if not low <= value <= high:
            raise ParamsError(name, f"each entry must be between {low:g} and {high:g}")
    if sum(values) <= 0:
        raise ParamsError(name, "at least one entry must be above 0")
    return [float(v) for v in values]
