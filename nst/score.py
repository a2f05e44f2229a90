"""Scores of a finished image, for benchmarks and tests; independent of any run's settings.

- `canonical_losses`: the content and style terms of neural-style's loss (nst/losses.py) with
  its default weights, Caffe VGG19, float32: what the reference preset minimises, so a fast
  result can be placed against the canonical one on the same trade-off.
- `gatys_losses`: the paper's normalisation (Gatys et al. 2015):

      content = 1/2 * sum((F - P)^2)                       at conv4_2 (after ReLU)
      style   = sum_l 1/5 * sum((G - A)^2) / (4 N^2)       at conv1_1..conv5_1

  where G and A are Gram matrices divided by their own image's number of positions M.
- `copy_score`: how much of the painting was pasted whole. For each position of the
  result's conv5_1 features (after ReLU), the best cosine similarity to any position of the
  painting's; the 95th percentile of that. A copied object (a face, a boat) matches one
  region of the painting almost exactly and raises it; texture alone does not.
"""

from __future__ import annotations

import torch
from PIL import Image

from nst import images
from nst.losses import Objective
from nst.params import Params
from nst.vgg import load_vgg19

STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]


def _gram(features: torch.Tensor) -> torch.Tensor:
    flat = features.double().flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


def canonical_losses(
    output: Image.Image, content: Image.Image, style: Image.Image
) -> tuple[float, float]:
    """(content term, style term) of neural-style's loss: 5 x MSE and 100 x sum of Gram MSEs.

    The style image is used as given: to score as the runs see it, pass it resized to the
    content's long edge (bench/bench_quality.py's load_pair does).
    """
    if output.size != content.size:
        raise ValueError(f"output {output.size} and content {content.size} differ in size")
    model = load_vgg19("caffe", "max", "cpu")
    c, s = images.to_tensor(content.convert("RGB")), images.to_tensor(style.convert("RGB"))
    objective = Objective(model, Params(), c, [s], [1.0], torch.float32)
    with torch.no_grad():
        terms = objective.terms(images.to_tensor(output.convert("RGB")))
    style_term = sum(terms[name].item() for name in objective.layer_weights)
    return objective.content_weight * terms["content"].item(), objective.style_weight * style_term


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


def copy_score(output: Image.Image, style: Image.Image, quantile: float = 0.95) -> float:
    """95th percentile over the output's conv5_1 positions of the best cosine similarity to
    any of the painting's positions (see the module's docstring)."""
    model = load_vgg19("caffe", "max", "cpu")
    with torch.no_grad():
        fo = model(images.to_tensor(output.convert("RGB")), ["conv5_1"])["conv5_1"]
        fs = model(images.to_tensor(style.convert("RGB")), ["conv5_1"])["conv5_1"]
    a = torch.nn.functional.normalize(fo.flatten(2)[0].T.double(), dim=1, eps=1e-8)
    b = torch.nn.functional.normalize(fs.flatten(2)[0].T.double(), dim=1, eps=1e-8)
    best = (a @ b.T).max(dim=1).values
    return float(torch.quantile(best, quantile))
