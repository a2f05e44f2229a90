"""The standard Gatys et al. (2015) losses of a finished image, for benchmarks and tests.

Independent of the engine's own (normalised) objective, so that different tools can be
compared by one scorer:

    content = 1/2 * sum((F - P)^2)                       at conv4_2 (after ReLU)
    style   = sum_l 1/5 * sum((G - A)^2) / (4 N^2)       at conv1_1..conv5_1

where G and A are Gram matrices divided by their own image's number of positions M, which is
Gatys' 1/(4 N^2 M^2) when both images have the same size. Original Caffe VGG19, float32.
"""

from __future__ import annotations

import torch
from PIL import Image

from nst import images
from nst.vgg import load_vgg19

STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]


def _gram(features: torch.Tensor) -> torch.Tensor:
    flat = features.double().flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


def gatys_losses(
    output: Image.Image, content: Image.Image, style: Image.Image
) -> tuple[float, float]:
    """(content loss, style loss) of `output`; output and content must have the same size."""
    if output.size != content.size:
        raise ValueError(f"output {output.size} and content {content.size} differ in size")
    model = load_vgg19("caffe", "max", "cpu")
    with torch.no_grad():
        fo = model(images.to_tensor(output), STYLE_LAYERS + ["conv4_2"])
        fc = model(images.to_tensor(content), ["conv4_2"])
        fs = model(images.to_tensor(style), STYLE_LAYERS)
    content_loss = 0.5 * (fo["conv4_2"].double() - fc["conv4_2"].double()).pow(2).sum().item()
    style_loss = 0.0
    for name in STYLE_LAYERS:
        g, a = _gram(fo[name]), _gram(fs[name])
        style_loss += 0.2 * (g - a).pow(2).sum().item() / (4 * g.shape[-1] ** 2)
    return content_loss, style_loss
