"""3x3 convolution + ReLU on the CPU with the weights laid out for oneDNN once, not per call.

PyTorch's CPU convolution hands oneDNN plain weights, which it reorders into its blocked
layout on every call, forward and backward: at 128x80 that was 17 ms of a 44 ms step (bf16,
2 cores; conv4/conv5's 512x512x3x3 kernels on a 16x10 image take 0.4 ms to run and 1.4 ms to
reorder). Here the weights are reordered once per dtype, for the forward and for the
backward, which is the forward convolution of the gradient with the kernel flipped and its
channels swapped (bit-identical to oneDNN's own backward, tests/test_packed_conv.py). The ReLU
runs inside the forward convolution. Only the image's gradient is computed: the network's
weights are fixed.

The 2x2 max pooling's backward is max_unpool2d of the gradient at the pooled positions:
bit-identical to PyTorch's max_pool2d backward, which on channels_last bf16 runs 2.5-3x slower
(12.4 against 4.8 ms for conv1_2's 64x320x512). Where a convolution's only reader is the pool
(conv1_2, conv2_2, conv3_4 unless a loss reads them), conv_relu_pool also applies the ReLU's
mask at the pooled positions, a quarter of the elements: the other three of each window get
no gradient from the pool anyway.

With winograd=True, float32 layers with many channels run as Winograd convolutions instead
(nst/winograd.py): the fast presets' path on CPUs without native bf16.
"""

from __future__ import annotations

import functools

import torch

from nst import winograd as wino

_DTYPES = (torch.float32, torch.bfloat16)


def available(x: torch.Tensor) -> bool:
    """Whether conv_relu can run on x: a CPU tensor, float32 or bf16, oneDNN built in, and
    for bf16 a CPU that oneDNN runs it on (AVX-512 BW/VL/DQ or AVX-NE-CONVERT; on AVX2 alone
    its weight reorder refuses bf16, and PyTorch's own convolution takes over)."""
    return (
        x.device.type == "cpu"
        and x.dtype in _DTYPES
        and torch.backends.mkldnn.enabled
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
        and (x.dtype != torch.bfloat16 or _onednn_bf16())
    )


@functools.cache  # a property of the CPU; available() is asked on every forward pass
def _onednn_bf16() -> bool:
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else True


class PackedConv:
    """One layer's kernel in oneDNN's layout, for the forward and for the backward pass."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, input_hw: tuple[int, int]):
        cout, cin = weight.shape[:2]
        h, w = input_hw
        self.bias = bias.contiguous()
        self.forward = _pack(weight, (1, cin, h, w))
        self.backward = _pack(_backward_kernel(weight), (1, cout, h, w))
        worth_it = weight.dtype == torch.float32 and wino.worth_it(cin, cout)
        self._weight = weight if worth_it else None
        self._winograd: tuple[torch.Tensor, torch.Tensor] | None = None

    def winograd(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The (forward, backward) Winograd kernels where the layer gains from them, else
        None. Made on first use: 4x the kernel's memory each, for the layers a run reads."""
        if self._weight is not None and self._winograd is None:
            forward, backward = self._weight, _backward_kernel(self._weight)
            self._winograd = (wino.transform_kernel(forward), wino.transform_kernel(backward))
        return self._winograd


def _backward_kernel(weight: torch.Tensor) -> torch.Tensor:
    """d(input) = conv(d(output), this): the kernel flipped in space, in and out swapped."""
    return weight.flip(2, 3).transpose(0, 1)


def _pack(weight: torch.Tensor, input_size: tuple[int, ...]) -> torch.Tensor:
    mkldnn = weight.contiguous().to_mkldnn()
    return torch._C._nn.mkldnn_reorder_conv2d_weight(mkldnn, [1, 1], [1, 1], [1, 1], 1, input_size)


def conv_relu(
    x: torch.Tensor, packed: PackedConv, padding: int = 1, winograd: bool = False
) -> torch.Tensor:
    """relu(conv2d(x, weight, bias, padding)) for a 3x3 kernel, stride 1; padding 1 or 0.
    winograd: as Winograd convolutions where the layer gains from it (float32 only)."""
    return _ConvReLU.apply(x, packed, padding, winograd)


def _conv(x: torch.Tensor, weight: torch.Tensor, bias, padding: int, relu: bool) -> torch.Tensor:
    pad = [padding, padding]
    attr = "relu" if relu else "none"
    return torch.ops.mkldnn._convolution_pointwise(
        x, weight, bias, pad, [1, 1], [1, 1], 1, attr, [], ""
    )


def max_pool(x: torch.Tensor) -> torch.Tensor:
    """max_pool2d(x, 2, 2, ceil_mode=True), with the faster backward."""
    return _MaxPool.apply(x)


def conv_relu_pool(
    x: torch.Tensor, packed: PackedConv, padding: int = 1, winograd: bool = False
) -> torch.Tensor:
    """max_pool(conv_relu(x, packed, padding, winograd)), for a convolution nothing else
    reads."""
    return _ConvReLUPool.apply(x, packed, padding, winograd)


def _kernels(x: torch.Tensor, packed: PackedConv, winograd: bool):
    return packed.winograd() if winograd and x.dtype == torch.float32 else None


def _forward(x: torch.Tensor, packed: PackedConv, padding: int, kernels) -> torch.Tensor:
    if kernels is not None:
        return wino.conv3x3(x, kernels[0], packed.bias, padding, relu=True)
    return _conv(x, packed.forward, packed.bias, padding, relu=True)


def _backward(g: torch.Tensor, packed: PackedConv, padding: int, kernels) -> torch.Tensor:
    # A 3x3 kernel: the input's gradient needs 2 - padding of padding.
    if kernels is not None:
        return wino.conv3x3(g, kernels[1], None, 2 - padding, relu=False)
    return _conv(g, packed.backward, None, 2 - padding, relu=False)


def _pool(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.nn.functional.max_pool2d_with_indices(y, 2, 2, ceil_mode=True)


def _unpool(grad: torch.Tensor, indices: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return torch.nn.functional.max_unpool2d(grad, indices, 2, 2, output_size=size[-2:])


class _MaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor):  # type: ignore[override]
        pooled, indices = _pool(x)
        ctx.save_for_backward(indices)
        ctx.size = x.shape
        return pooled

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (indices,) = ctx.saved_tensors
        return _unpool(grad, indices, ctx.size)


class _ConvReLUPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, packed: PackedConv, padding: int, winograd: bool):  # type: ignore[override]
        kernels = _kernels(x, packed, winograd)
        y = _forward(x, packed, padding, kernels)
        pooled, indices = _pool(y)
        ctx.save_for_backward(pooled, indices)
        ctx.packed, ctx.padding, ctx.size, ctx.kernels = packed, padding, y.shape, kernels
        return pooled

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        pooled, indices = ctx.saved_tensors
        # The pool passes the gradient to each window's maximum, where y = pooled.
        g = torch.ops.aten.threshold_backward(grad.to(pooled.dtype), pooled, 0)
        dx = _backward(_unpool(g, indices, ctx.size), ctx.packed, ctx.padding, ctx.kernels)
        return dx, None, None, None


class _ConvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, packed: PackedConv, padding: int, winograd: bool):  # type: ignore[override]
        kernels = _kernels(x, packed, winograd)
        y = _forward(x, packed, padding, kernels)
        ctx.save_for_backward(y)
        ctx.packed, ctx.padding, ctx.kernels = packed, padding, kernels
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (y,) = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(grad.to(y.dtype), y, 0)
        return _backward(g, ctx.packed, ctx.padding, ctx.kernels), None, None, None
