"""Texture synthesis (Gatys et al., "Texture Synthesis Using Convolutional Neural Networks",
2015): the stylize optimisation with the content term switched off, from noise.

The image gets the paintings' Gram matrices and nothing of any photo: their strokes,
colours and grain, with no subject. `tileable` makes the image a torus: every convolution
pads with the opposite edge (vgg.VGG19Features.forward's `wrap`), the smoothness term
counts the wrap-around neighbours, and the coarse-to-fine steps resize the image as a
periodic signal, so the texture repeats without a seam. Pooling windows tile the torus when
the sides are divisible by 16 (conv5_1 is 4 poolings deep), so tileable sizes are rounded to
multiples of 16 at every scale but the last, which is the size asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from nst import estimate, images, start, tiles
from nst.device import pick_device, pick_precision
from nst.engine import (
    CancelFlag,
    ProgressCallback,
    _optimise_safely,
    _Tracker,
    open_styles,
    scale_styles,
    tile_reporter,
)
from nst.errors import ParamsError
from nst.images import ImageInput
from nst.losses import Objective
from nst.optimise import optimise_scale
from nst.params import Params
from nst.vgg import load_vgg19

MAX_SIDE = 8192
# The start: noise in the painting's palette, enough contrast for the first steps to find
# strokes, none of any image's structure.
NOISE_SIGMA = 40.0


def texture(
    styles: ImageInput | Sequence[ImageInput],
    width: int,
    height: int,
    params: Params | dict | None = None,
    *,
    tileable: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag = None,
    max_pixels: int = images.DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """A width x height RGB image with the texture of `styles` (paths or PIL images).

    params: as for stylize (quality, style_blend, style_scale, seed, tv_weight...); the
    content settings are unused. tileable: the result repeats seamlessly in both directions.
    """
    params = Params.from_dict(params) if isinstance(params, dict) or params is None else params
    for name, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int) or not 16 <= side <= MAX_SIDE:
            raise ParamsError(name, f"must be a whole number of pixels from 16 to {MAX_SIDE}")
    if width * height > max_pixels:
        raise ParamsError(
            "size", f"{width}x{height} is over the limit of {max_pixels / 1e6:.1f} megapixels"
        )
    style_images, blend = open_styles(styles, params, max_pixels)
    # The texture is painted at the size asked for, whatever the preset's working size.
    params = params.replace(size=max(width, height), content_weight=0.0)
    result = _optimise_safely(
        params,
        width,
        height,
        style_images,
        blend,
        tileable,
        progress,
        cancel,
        optimise=_synthesize,
        diverged="the texture's optimisation diverged (NaN or infinite, also in float32); "
        "try another seed",
    )
    return images.to_image(result)


def _synthesize(
    params: Params,
    width: int,
    height: int,
    style_images: list[Image.Image],
    blend: list[float],
    tileable: bool,
    progress: ProgressCallback | None,
    cancel: CancelFlag,
) -> torch.Tensor:
    device = pick_device(params.device)
    dtype = pick_precision(params.precision, device)
    model = load_vgg19(params.weights, params.pooling, device)
    generator = torch.Generator().manual_seed(params.seed)
    # Every style layer, conv5_1 too: a texture has no photo to hold its large shapes.
    planned = estimate.plan(params, width, height, dtype, device, halo=tiles.halo(params))
    plan = [
        estimate.Scale(*_side(s.width, s.height, tileable, s is planned[-1]), s.steps, s.core)
        for s in planned
    ]
    if tileable and plan[-1].core is not None:  # tiles have edges; a torus has none
        raise ParamsError(
            "size",
            f"{width}x{height} is too large for a tileable texture in one pass on this device: "
            "ask for a smaller one and repeat it (it tiles seamlessly), or leave tileable off",
        )
    tracker = _Tracker(plan, progress)
    on_tile = tile_reporter(tracker, cancel)

    image: torch.Tensor | None = None
    for index, scale in enumerate(plan):
        tracker.scale = index + 1
        style_ts = scale_styles(style_images, scale, params, device)
        args = (model, params, None, style_ts, blend, dtype)
        if scale.core is None:
            objective = Objective(*args, wrap=tileable)
        else:
            objective = tiles.TiledObjective(*args, core=scale.core, on_tile=on_tile)
        if image is None:  # noise in the main painting's palette (its colour mean and spread)
            noise = 128 + NOISE_SIGMA * torch.randn(
                1, 3, scale.height, scale.width, generator=generator
            )
            main = start.main_style(style_ts, blend)
            image = images.match_colors(noise.to(device), main).clamp(0, 255)
        else:
            image = resize(image, scale.width, scale.height, tileable)
        image = optimise_scale(params, objective, image, scale.steps, cancel, tracker)
    assert image is not None
    return image


def _side(width: int, height: int, tileable: bool, last: bool) -> tuple[int, int]:
    """A coarse scale of a tileable texture: sides rounded to multiples of 16."""
    if not tileable or last:
        return width, height
    return max(16, round(width / 16) * 16), max(16, round(height / 16) * 16)


def resize(image: torch.Tensor, width: int, height: int, periodic: bool) -> torch.Tensor:
    """Bicubic resize; `periodic`: as a tile of an endless pattern (its neighbours are itself),
    so that the edges stay continuous across the wrap."""
    if not periodic:
        return F.interpolate(image, (height, width), mode="bicubic", align_corners=False).clamp(
            0, 255
        )
    h, w = image.shape[-2:]
    tiled = image.repeat(1, 1, 3, 3)
    big = F.interpolate(tiled, (3 * height, 3 * width), mode="bicubic", align_corners=False)
    return big[..., height : 2 * height, width : 2 * width].clamp(0, 255)


def seam_ratio(image: Image.Image) -> float:
    """How visible the wrap seams are: the mean absolute difference across them (last column
    against the first, last row against the first) over the mean difference between
    neighbouring columns and rows inside. About 1 for a seamless tile."""
    x = images.to_tensor(image.convert("RGB"))
    inside = torch.cat(
        [
            (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(),
            (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(),
        ]
    ).mean()
    across = torch.cat(
        [
            (x[..., :, 0] - x[..., :, -1]).abs().flatten(),
            (x[..., 0, :] - x[..., -1, :]).abs().flatten(),
        ]
    ).mean()
    return float(across / inside.clamp_min(1e-6))
