"""Layer reconstructions, as in Gatys et al. (2015), Fig. 1: what each VGG layer keeps.

- Content: an image rebuilt from noise to match one layer's features of a photo. From
  conv1_1 the photo comes back almost exactly; the deeper the layer, the more the exact
  pixels are lost while the layout stays.
- Style: an image rebuilt from noise to match a painting's Gram matrices on a growing set of
  layers (conv1_1; conv1_1 + conv2_1; ... up to conv5_1): colours first, then ever larger
  strokes and structures, never the painting's layout.

`grid` renders either row as one labelled picture (`nst reconstruct`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image, ImageDraw

from nst import images, texture
from nst.device import pick_device, pick_precision
from nst.engine import CancelFlag, _Tracker
from nst.estimate import Scale
from nst.images import ImageInput
from nst.losses import Objective
from nst.optimise import optimise_scale
from nst.params import Params
from nst.vgg import CAFFE_MEAN_BGR, load_vgg19

CONTENT_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
STYLE_SETS = [CONTENT_LAYERS[: i + 1] for i in range(len(CONTENT_LAYERS))]
DEFAULT_SIZE = 256
DEFAULT_STEPS = 300


@dataclass
class Reconstruction:
    label: str  # e.g. "conv3_1" or "conv1_1 + conv2_1"
    image: Image.Image
    error: float  # content: mean absolute pixel error (0..255); style: the style loss


def content_reconstructions(
    image: ImageInput,
    layers: list[str] = CONTENT_LAYERS,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    device: str = "auto",
    on_step: Callable[[str, int], None] | None = None,
    cancel: CancelFlag = None,
) -> list[Reconstruction]:
    """The photo rebuilt from each layer's features alone (content loss only, from noise)."""
    photo = images.resize_long_edge(images.open_image(image, "image").convert("RGB"), size)
    target = images.to_tensor(photo)
    out = []
    for layer in layers:
        params = Params(
            content_layer=layer,
            style_weight=0.0,
            tv_weight=0.0,
            seed=seed,
            device=device,
            precision="fp32",
        )
        result, _ = _rebuild(params, target, [], steps, cancel, _report(on_step, layer))
        error = float((result.cpu() - target).abs().mean())
        out.append(Reconstruction(layer, images.to_image(result), error))
    return out


def style_reconstructions(
    painting: ImageInput,
    layer_sets: list[list[str]] = STYLE_SETS,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    device: str = "auto",
    on_step: Callable[[str, int], None] | None = None,
    cancel: CancelFlag = None,
) -> list[Reconstruction]:
    """The painting's style rebuilt from growing sets of layers (style loss only, from noise)."""
    art = images.resize_long_edge(images.open_image(painting, "painting").convert("RGB"), size)
    style = images.to_tensor(art)
    out = []
    for layers in layer_sets:
        params = Params(
            content_weight=0.0,
            style_layers=list(layers),
            seed=seed,
            device=device,
            precision="fp32",
        )
        label = layers[0] if len(layers) == 1 else f"up to {layers[-1]}"
        # From noise with contrast, around the painting's mean colour, as textures start:
        # from a flat image the deep layers' gradients are too small to get going.
        start = style.mean(dim=(-1, -2), keepdim=True) + texture.NOISE_SIGMA * torch.randn(
            style.shape, generator=torch.Generator().manual_seed(seed)
        )
        result, objective = _rebuild(
            params, style, [style], steps, cancel, _report(on_step, label), start.clamp(0, 255)
        )
        with torch.no_grad():
            loss = float(objective(result))
        out.append(Reconstruction(label, images.to_image(result), loss))
    return out


def _report(on_step: Callable[[str, int], None] | None, label: str):
    return None if on_step is None else (lambda p: on_step(label, p.step))


def _rebuild(
    params: Params,
    target: torch.Tensor,
    styles: list[torch.Tensor],
    steps: int,
    cancel: CancelFlag,
    progress,
    start: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Objective]:
    """The image rebuilt from noise (or `start`), and the objective it minimised."""
    device = pick_device(params.device)
    dtype = pick_precision(params.precision, device)
    model = load_vgg19(params.weights, params.pooling, device)
    content = None if params.content_weight == 0 else target.to(device)
    objective = Objective(model, params, content, [s.to(device) for s in styles], [1.0], dtype)
    if start is None:  # neural-style's start: the mean pixel and a trace of noise
        generator = torch.Generator().manual_seed(params.seed)
        mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)
        start = mean + 1e-3 * torch.randn(target.shape, generator=generator)
    start = start.to(device)
    h, w = target.shape[-2:]
    tracker = _Tracker([Scale(w, h, steps, None)], progress)
    return optimise_scale(params, objective, start, steps, cancel, tracker), objective


def grid(
    rows: list[tuple[str, Image.Image | None, list[Reconstruction]]], cell: int = 200
) -> Image.Image:
    """One labelled row per (title, original or None, reconstructions)."""
    pad, label_h, title_h = 6, 30, 20
    columns = max(len(r) + (o is not None) for _, o, r in rows)
    sheet = Image.new(
        "RGB",
        (pad + columns * (cell + pad), len(rows) * (title_h + cell + label_h + pad) + pad),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    y = pad
    for title, original, recs in rows:
        draw.text((pad, y), title, fill="black")
        y += title_h
        tiles = ([("original", original, None)] if original is not None else []) + [
            (r.label, r.image, r.error) for r in recs
        ]
        for i, (label, picture, error) in enumerate(tiles):
            thumb = picture.convert("RGB").copy()
            thumb.thumbnail((cell, cell))
            x = pad + i * (cell + pad)
            sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
            draw.text((x, y + cell + 2), label, fill="black")
            if error is not None:
                draw.text((x, y + cell + 15), f"error {error:.3g}", fill="dimgray")
        y += cell + label_h + pad
    return sheet
