"""The CPU's convolution with weights packed once (nst/packed_conv.py) computes exactly what
PyTorch's own convolution computes, forward and backward, in the network and alone; so do its
max pooling and its convolution + pooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nst import packed_conv
from nst.device import pick_precision
from nst.vgg import LAYER_NAMES, load_vgg19

pytestmark = pytest.mark.skipif(
    not packed_conv.available(torch.zeros(1)), reason="oneDNN is not built into this torch"
)

# oneDNN runs bf16 only on CPUs with AVX-512 BW/VL/DQ or AVX-NE-CONVERT (not on AVX2 alone).
BF16 = pytest.param(
    torch.bfloat16,
    marks=pytest.mark.skipif(
        not packed_conv.available(torch.zeros(1, dtype=torch.bfloat16)),
        reason="oneDNN has no bf16 convolution on this CPU",
    ),
)
DTYPES = [torch.float32, BF16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [1, 0])
@pytest.mark.parametrize("size", [(16, 10), (7, 33)])
def test_conv_relu_matches_pytorch(dtype, padding, size):
    g = torch.Generator().manual_seed(0)
    weight = (torch.randn(48, 24, 3, 3, generator=g) * 0.1).to(dtype)
    bias = torch.randn(48, generator=g).to(dtype)
    w, h = size
    x = torch.randn(1, 24, h, w, generator=g).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(1, 48, h + 2 * padding - 2, w + 2 * padding - 2, generator=g).to(dtype)

    ours_in = x.clone().requires_grad_(True)
    ours = packed_conv.conv_relu(ours_in, packed_conv.PackedConv(weight, bias, (64, 64)), padding)
    ours.backward(upstream)
    theirs_in = x.clone().requires_grad_(True)
    theirs = torch.relu(F.conv2d(theirs_in, weight, bias, padding=padding))
    theirs.backward(upstream)

    assert ours.shape == theirs.shape
    assert (ours > 0).any() and (ours == 0).any()  # the ReLU cut something and kept something
    tol = 0 if dtype == torch.float32 else 1e-2
    assert torch.allclose(ours.float(), theirs.float(), rtol=tol, atol=1e-4)
    assert torch.allclose(ours_in.grad.float(), theirs_in.grad.float(), rtol=tol, atol=1e-3)


def _pair(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(shape, generator=g).to(dtype).contiguous(memory_format=torch.channels_last)
        for _ in range(2)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("size", [(16, 10), (7, 33)])  # odd sides: ceil_mode's partial windows
def test_max_pool_matches_pytorch_exactly(dtype, size):
    w, h = size
    x, _ = _pair((1, 8, h, w), dtype, 0)
    x = torch.relu(x)  # ties at 0, as after a ReLU: the gradient goes to one of them
    upstream = torch.randn(1, 8, (h + 1) // 2, (w + 1) // 2).to(dtype)
    ours_in, theirs_in = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours = packed_conv.max_pool(ours_in)
    ours.backward(upstream)
    theirs = F.max_pool2d(theirs_in, 2, 2, ceil_mode=True)
    theirs.backward(upstream)
    assert torch.equal(ours, theirs)
    assert torch.equal(ours_in.grad, theirs_in.grad)
    assert ours_in.grad.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [1, 0])
@pytest.mark.parametrize("size", [(16, 10), (9, 15)])
def test_conv_relu_pool_matches_separate_ops_exactly(dtype, padding, size):
    g = torch.Generator().manual_seed(2)
    weight = (torch.randn(16, 8, 3, 3, generator=g) * 0.3).to(dtype)
    bias = torch.randn(16, generator=g).to(dtype)
    packed = packed_conv.PackedConv(weight, bias, (64, 64))
    w, h = size
    x, _ = _pair((1, 8, h, w), dtype, 3)
    ours_in, theirs_in = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours = packed_conv.conv_relu_pool(ours_in, packed, padding)
    theirs = F.max_pool2d(packed_conv.conv_relu(theirs_in, packed, padding), 2, 2, ceil_mode=True)
    assert (theirs == 0).any() and (theirs > 0).any()  # the ReLU's mask matters
    upstream = torch.randn(theirs.shape, generator=g).to(dtype)
    ours.backward(upstream)
    theirs.backward(upstream)
    assert torch.equal(ours, theirs)
    assert torch.equal(ours_in.grad, theirs_in.grad)


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("layers", ["all", "style"])
def test_network_features_and_gradient_unchanged(monkeypatch, wrap, layers):
    """The whole VGG19 in the precision CPU runs use here (bf16 where the CPU has it): packed
    and plain agree layer by layer.

    layers: every layer read (no fused pooling), or the default losses' (conv1_2, conv2_2
    and conv3_4 feed only their pool: packed_conv.conv_relu_pool).
    """
    model = load_vgg19("caffe", "max", "cpu")
    names = list(LAYER_NAMES[:13])
    if layers == "style":
        names = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2"]
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1)) * 255
    dtype = pick_precision("auto", torch.device("cpu"))

    def run() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        x = image.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            feats = model(x, names, wrap=wrap)
        sum(f.float().pow(2).mean() for f in feats.values()).backward()
        return {k: v.detach() for k, v in feats.items()}, x.grad

    packed_feats, packed_grad = run()
    assert model._packed  # the packed path ran
    monkeypatch.setattr(packed_conv, "available", lambda x: False)
    plain_feats, plain_grad = run()
    for name in plain_feats:
        if dtype == torch.float32:  # oneDNN's float32 kernels sum in another order (AVX2)
            assert torch.allclose(packed_feats[name], plain_feats[name], rtol=1e-5, atol=1e-2)
        else:
            assert torch.equal(packed_feats[name], plain_feats[name]), name
    assert packed_grad.abs().sum() > 0
    assert torch.allclose(packed_grad, plain_grad, rtol=1e-2, atol=1e-6 * plain_grad.abs().max())
