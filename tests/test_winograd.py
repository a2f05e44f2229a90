"""Winograd's 3x3 convolution (nst/winograd.py) computes the convolution to float32 rounding:
alone, inside packed_conv's layers with their gradients, and through the whole VGG19; and only
the fast presets use it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from nst import packed_conv, winograd
from nst.losses import Objective
from nst.params import Params
from nst.vgg import load_vgg19

pytestmark = pytest.mark.skipif(
    not packed_conv.available(torch.zeros(1)), reason="oneDNN is not built into this torch"
)


def _relative_error(ours: torch.Tensor, exact: torch.Tensor) -> float:
    return float((ours.double() - exact).abs().max() / exact.abs().max())


@pytest.mark.parametrize(
    "batch, size, padding, relu, bias",
    [
        (1, (16, 12), 1, True, True),  # whole 4x4 tiles
        (1, (37, 53), 1, True, True),  # partial tiles at the right and the bottom
        (2, (10, 7), 0, False, False),  # a batch, no padding (the wrapped image's)
        (1, (9, 9), 2, False, False),  # the backward's padding with a wrapped image
        (1, (3, 3), 1, True, True),  # smaller than one tile
    ],
)
def test_conv3x3_matches_the_convolution(monkeypatch, batch, size, padding, relu, bias):
    monkeypatch.setattr(winograd, "BAND_BYTES", 1)  # one tile row a band: the bands' seams
    g = torch.Generator().manual_seed(0)
    h, w = size
    x = torch.randn(batch, 24, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(40, 24, 3, 3, generator=g)
    b = torch.randn(40, generator=g) if bias else None
    exact = F.conv2d(
        x.double(), weight.double(), None if b is None else b.double(), padding=padding
    )
    if relu:
        exact = exact.relu()
    ours = winograd.conv3x3(x, winograd.transform_kernel(weight), b, padding, relu)
    assert ours.shape == exact.shape
    assert ours.is_contiguous(memory_format=torch.channels_last)
    assert _relative_error(ours, exact) < 5e-5  # the direct float32 convolution's: about 1e-6
    if relu:
        assert (ours == 0).any() and (ours > 0).any()


def test_only_layers_with_many_channels_take_it():
    narrow = packed_conv.PackedConv(torch.randn(64, 64, 3, 3), torch.zeros(64), (64, 64))
    wide = packed_conv.PackedConv(torch.randn(128, 128, 3, 3), torch.zeros(128), (64, 64))
    assert narrow.winograd() is None
    forward, backward = wide.winograd()
    assert forward.shape == backward.shape == (36, 128, 128)


@pytest.mark.parametrize("pool", [False, True])
@pytest.mark.parametrize("padding", [1, 0])
def test_packed_layers_with_winograd_match_their_gradients(pool, padding):
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(128, 128, 3, 3, generator=g) * (2 / (9 * 128)) ** 0.5
    packed = packed_conv.PackedConv(weight, torch.randn(128, generator=g) * 0.1, (64, 64))
    x = torch.randn(1, 128, 14, 19, generator=g).contiguous(memory_format=torch.channels_last)
    layer = packed_conv.conv_relu_pool if pool else packed_conv.conv_relu

    def run(use: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x_in = x.clone().requires_grad_(True)
        y = layer(x_in, packed, padding, use)
        y.backward(torch.ones_like(y) + torch.arange(y.numel()).view_as(y) % 3)
        return y.detach(), x_in.grad

    (y_w, grad_w), (y_d, grad_d) = run(True), run(False)
    assert packed._winograd is not None  # the Winograd path ran
    assert torch.allclose(y_w, y_d, rtol=1e-4, atol=1e-4 * y_d.abs().max())
    assert torch.allclose(grad_w, grad_d, rtol=1e-4, atol=1e-4 * grad_d.abs().max())


@pytest.mark.parametrize("wrap", [False, True])
def test_network_features_and_gradient_within_rounding(wrap):
    model = load_vgg19("caffe", "max", "cpu")
    names = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"]
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(2)) * 255

    def run(use: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        x = image.clone().requires_grad_(True)
        feats = model(x, names, wrap=wrap, winograd=use)
        sum(f.pow(2).mean() for f in feats.values()).backward()
        return {k: v.detach() for k, v in feats.items()}, x.grad

    (feats_w, grad_w), (feats_d, grad_d) = run(True), run(False)
    for name in names:
        scale = feats_d[name].abs().max()
        assert torch.allclose(feats_w[name], feats_d[name], rtol=1e-4, atol=1e-4 * scale), name
    assert torch.allclose(grad_w, grad_d, rtol=1e-3, atol=1e-4 * grad_d.abs().max())
    assert model._packed[torch.float32]["conv4_2"]._winograd is not None
    assert model._packed[torch.float32]["conv1_2"]._winograd is None


def test_the_fast_presets_use_it_and_the_reference_does_not():
    shared = load_vgg19("caffe", "max", "cpu")
    content = torch.rand(1, 3, 32, 32) * 255
    for quality, expected in [("reference", False), ("draft", True), ("normal", True)]:
        model = copy.deepcopy(shared)  # its own copy: no kernels made by another preset
        params = Params.from_dict({"quality": quality})
        objective = Objective(model, params, content, [content], [1.0])
        objective.value_and_grad(content)
        assert objective.winograd is expected, quality
        made = any(p._winograd is not None for p in model._packed[torch.float32].values())
        assert made is expected, quality
