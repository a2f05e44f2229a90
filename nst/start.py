"""Where each scale's optimisation starts: the first image, and the step up to a finer scale.

The fast presets start from the photo recoloured to the painting's palette: the painting's
colours are most of what its lowest layers' Gram matrices ask for, so the optimiser spends
its few steps on strokes and texture rather than on repainting every pixel's colour, while
every edge of the photo is there from the start. (Measured in bench/bench_quality.py: closer
to the reference's balance than the plain photo on the pairs tried.) Between scales the
upsampled result gets back the photo's detail that the coarser scale could not hold, so
the finer scale refines the subject instead of having to find it again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nst import images
from nst.params import Params
from nst.vgg import CAFFE_MEAN_BGR


def resize(tensor: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bicubic resize of an image tensor in 0..255 (antialiased when shrinking)."""
    if tensor.shape[-2:] == (height, width):
        return tensor
    shrinking = width < tensor.shape[-1]
    out = F.interpolate(
        tensor, (height, width), mode="bicubic", align_corners=False, antialias=shrinking
    )
    return out.clamp(0, 255)


def first_image(
    params: Params,
    content: torch.Tensor,
    styles: list[torch.Tensor],
    blend: list[float],
    generator: torch.Generator,
) -> torch.Tensor:
    if params.initial == "noise":
        # neural-style's start: the mean pixel (0 in Caffe units) plus 0.001 x randn.
        mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)
        noise = torch.randn(content.shape, generator=generator) * 1e-3 + mean
        return noise.to(content.device)
    if params.preserve_colors != "none":  # the photo's colours are wanted: keep them
        return content.clone()
    recoloured = images.match_colors(content, main_style(styles, blend))
    # Below strength 1 the start keeps part of the photo's own colours, as the result should.
    return content + min(1.0, params.style_weight) * (recoloured - content)


def main_style(styles: list[torch.Tensor], blend: list[float]) -> torch.Tensor:
    """The style with the largest blend weight: whose palette a start takes."""
    return styles[max(range(len(blend)), key=blend.__getitem__)]


def step_up(
    image: torch.Tensor,
    content: torch.Tensor,
    params: Params,
    styles: list[torch.Tensor] | None = None,
    blend: list[float] | None = None,
) -> torch.Tensor:
    """The coarser scale's result at the content's (finer) size, with the photo's detail.

    The detail is the photo's (its edges, in its places) in the amount the painting has at
    this scale: a painting of strokes gets more fine detail back than the photo itself has, a
    painting of flat colour less (detail_gain).
    """
    h, w = content.shape[-2:]
    coarse_h, coarse_w = image.shape[-2:]
    out = resize(image, w, h)
    if params.initial == "content":
        lost = _detail(content, coarse_w, coarse_h)
        gain = detail_gain(lost, styles, blend, coarse_w / w) if styles else 1.0
        # Below strength 1 the amount moves towards the photo's own, as the colours do.
        gain = 1.0 + min(1.0, params.style_weight) * (gain - 1.0)
        out = (out + gain * lost).clamp(0, 255)
    return out


# Limits of detail_gain: the paintings benchmarked range from 0.9 (flat colour) to 2.5
# (strokes on a smooth photo); beyond 3 the added detail is the photo's noise.
DETAIL_GAIN_RANGE = (0.5, 3.0)


def detail_gain(
    photo_detail: torch.Tensor, styles: list[torch.Tensor], blend: list[float] | None, ratio: float
) -> float:
    """How much of the photo's lost detail to add back: the painting's detail energy (what a
    downscale by `ratio` removes from it) over the photo's.

    Measured with bench/bench_quality.py (256 px, 16 pairs): the photo's detail added once
    (the amount that makes the upsampled image the photo again) left the fine scale too smooth
    for paintings of strokes (style 1.78x the reference's on the wolf with The Starry Night),
    twice or three times too busy for flat colour; the painting's own ratio suits both.
    """
    blend = blend or [1.0 / len(styles)] * len(styles)
    painting = sum(
        b * _detail(s, round(s.shape[-1] * ratio), round(s.shape[-2] * ratio)).std().item()
        for s, b in zip(styles, blend)
    )
    photo = photo_detail.std().item()
    low, high = DETAIL_GAIN_RANGE
    return min(high, max(low, painting / photo)) if photo > 0 else 1.0


def _detail(image: torch.Tensor, small_w: int, small_h: int) -> torch.Tensor:
    """What resizing down to small_w x small_h and back loses: the image's finest detail."""
    h, w = image.shape[-2:]
    return image - resize(resize(image, max(1, small_w), max(1, small_h)), w, h)
