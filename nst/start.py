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
    main_style = styles[max(range(len(blend)), key=blend.__getitem__)]
    recoloured = images.match_colors(content, main_style)
    # Below strength 1 the start keeps part of the photo's own colours, as the result should.
    return content + min(1.0, params.style_weight) * (recoloured - content)


def step_up(image: torch.Tensor, content: torch.Tensor, params: Params) -> torch.Tensor:
    """The coarser scale's result at the content's (finer) size, with the photo's detail."""
    h, w = content.shape[-2:]
    coarse_h, coarse_w = image.shape[-2:]
    out = resize(image, w, h)
    if params.initial == "content":
        lost = content - resize(resize(content, coarse_w, coarse_h), w, h)
        out = (out + lost).clamp(0, 255)
    return out
