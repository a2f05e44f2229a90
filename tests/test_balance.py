"""nst/balance.py: the fast presets' style gain per pair, with the real weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small
from PIL import Image

from nst import balance, images
from nst.engine import scale_inputs
from nst.estimate import Scale
from nst.losses import Objective
from nst.params import Params
from nst.score import canonical_losses
from nst.vgg import load_vgg19

CPU = torch.device("cpu")


def gain_for(model, params: Params, photo: Image.Image, painting: Image.Image) -> float:
    """pair_gain with the images as a run at the photo's own size sees them."""
    at = Scale(*balance.measure_size(photo.size, max(photo.size)), 0, None)
    content, styles = scale_inputs(photo, [painting], at, params, CPU)
    return balance.pair_gain(model, params, content, styles, [1.0], torch.float32)


def stripes(size: int) -> Image.Image:
    """Black and white diagonal stripes: far from any photo, the largest Gram matrices."""
    y, x = np.mgrid[:size, :size]
    return Image.fromarray(np.where((x + y) // 4 % 2, 255, 0).astype(np.uint8)).convert("RGB")


def start_style_term(photo: Image.Image, painting: Image.Image) -> float:
    """The reference's style term at the fast presets' start (the photo in the painting's
    palette), by nst/score.py's own code."""
    p, s = images.to_tensor(photo), images.to_tensor(painting)
    start = images.to_image(images.match_colors(p, s))
    return canonical_losses(start, photo, painting)[1]


@pytest.mark.parametrize("which", ["own", "painting", "stripes"])
def test_the_gain_caps_the_style_term_at_the_start(content_path, style_path, which) -> None:
    photo = small(content_path, 96)
    painting = {"own": photo, "painting": small(style_path, 96), "stripes": stripes(96)}[which]
    model = load_vgg19("caffe", "max", CPU)
    gain = gain_for(model, Params(), photo, painting)

    term = start_style_term(photo, painting)
    expected = min(balance.FAST_STYLE_GAIN, balance.START_STYLE_CAP / max(term, 1e-30))
    assert gain == pytest.approx(max(balance.MIN_STYLE_GAIN, expected), rel=0.02)
    if which == "own":  # nothing to repaint: the full gain
        assert gain == balance.FAST_STYLE_GAIN
    if which == "stripes":  # as far from a photo as a painting gets: less push
        assert gain < balance.FAST_STYLE_GAIN


def test_the_gain_does_not_depend_on_strength_or_the_reference(content_path) -> None:
    photo = small(content_path, 64)
    model = load_vgg19("caffe", "max", CPU)

    def gain(**params) -> float:
        return gain_for(model, Params(**params), photo, stripes(64))

    assert gain(style_weight=3.0) == pytest.approx(gain(style_weight=0.5))
    assert balance.style_gains(Params(quality="reference")) == {}
    fast = balance.style_gains(Params(), 0.2)
    assert fast["conv4_1"] == 0.2
    assert fast["conv1_1"] == 0.2 * balance.FAST_TEXTURE_GAIN
    last = balance.style_gains(Params(), 0.2, final=True)
    # The last scale weights conv4_1 twice as much, relative to the others, as before it.
    assert last["conv4_1"] / last["conv3_1"] == pytest.approx(2 * fast["conv4_1"] / fast["conv3_1"])
    assert last["conv1_1"] < fast["conv1_1"]


def test_conv5_1_is_left_out_unless_the_user_weights_the_layers(content_path, style_path) -> None:
    model = load_vgg19("caffe", "max", CPU)
    photo, painting = small(content_path, 64), small(style_path, 64)
    content, style = images.to_tensor(photo), images.to_tensor(painting)

    def layers(**params) -> list[str]:
        p = Params(**params)
        objective = Objective(model, p, content, [style], [1.0], style_gains=balance.style_gains(p))
        return objective.layers

    # The fast presets stop at conv4_2 (the content layer); the reference and a user's own
    # layer weights or layers keep conv5_1.
    assert layers() == sorted(["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2"])
    assert "conv5_1" in layers(quality="reference")
    assert "conv5_1" in layers(style_layer_weights=[1, 1, 1, 1, 2])
    assert layers(style_layers=["conv5_1"]) == ["conv4_2", "conv5_1"]
