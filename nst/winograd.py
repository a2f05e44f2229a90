"""3x3 convolutions as Winograd F(4x4, 3x3): the fast presets' float32 path on the CPU.

On a CPU without native bf16 (AVX2 alone, or AVX-512 before Cooper Lake) every step runs in
float32, and 88% of a step is oneDNN's direct convolutions, which already run near the
CPU's peak. Winograd's algorithm computes each 4x4 block of outputs from a 6x6 block of
inputs with 36 multiplications per channel pair instead of 144: the image's 6x6 tiles and
the kernels are transformed (B^T d B, G g G^T), the 36 transformed positions are 36 matrix
products over the channels, and A^T m A turns them back into 4x4 outputs. Where the
channels are many the products dominate: conv3_1 to conv4_2 run 1.4-2.3x faster (2 AVX2
cores, docs/benchmarks.md), conv2_2 (128 in and out) 1.1x, and with 64 channels the
transforms cost more than they save (conv1_2 1.3x slower).

Its rounding differs from the direct convolution's by about 1e-5 of the output's range
(tests/test_winograd.py), far below bf16's 4e-3, so the fast presets use it where they
would otherwise run float32 directly; the reference preset, the yardstick, keeps the direct
convolution, as neural-style does on the CPU.

The tiles are transformed a band of tile rows at a time, so the temporaries stay a few MB
whatever the image's size (all at once they would be 4-5x the layer's input).
"""

from __future__ import annotations

import torch

# The standard F(4x4, 3x3) matrices (Lavin and Gray, 2015), interpolation points 0, +-1, +-2.
_BT = [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
]
_G = [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
]
_AT = [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
]


def _both_sides(m: list[list[float]]) -> torch.Tensor:
    """The transform M x M^T of a tile x (M = B^T or A^T) as one matrix on its values, row
    by row: vec(M x M^T) = (M kron M) vec(x), so a whole band is one matrix product."""
    t = torch.tensor(m, dtype=torch.float64)
    return torch.kron(t, t).float()


_IN, _OUT = _both_sides(_BT), _both_sides(_AT)  # (36, 36), (16, 36)

MIN_CHANNELS = 128  # below it (conv1_x, conv2_1) the transforms cost more than they save
BAND_BYTES = 8 << 20  # one band's transformed tiles: 8-16 MB ran fastest at 128x80 to 512x320


def worth_it(in_channels: int, out_channels: int) -> bool:
    """Whether a layer with these channel counts runs at least as fast as Winograd (measured
    at 512x320, 256x160 and 128x80 on a 2-core AVX2 CPU)."""
    return min(in_channels, out_channels) >= MIN_CHANNELS


def transform_kernel(weight: torch.Tensor) -> torch.Tensor:
    """G g G^T for each (out, in) 3x3 kernel of `weight` (K, C, 3, 3), as (36, C, K) float32:
    per transformed position, the matrix the tiles' channels are multiplied by."""
    g = torch.tensor(_G, dtype=torch.float64)
    u = torch.einsum("ia,kcab,jb->ijck", g, weight.double(), g)
    return u.reshape(36, weight.shape[1], weight.shape[0]).float().contiguous()


def conv3x3(
    x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, padding: int, relu: bool
) -> torch.Tensor:
    """relu?(conv2d(x, weight, bias, padding=padding)) for a stride-1 3x3 kernel given as
    transform_kernel(weight); x (N, C, H, W) float32, the result channels_last."""
    n, c, h, w = x.shape
    k = kernel.shape[2]
    out_h, out_w = h + 2 * padding - 2, w + 2 * padding - 2
    rows, cols = -(-out_h // 4), -(-out_w // 4)  # tiles down and across
    src = x.permute(0, 2, 3, 1)  # (N, H, W, C): contiguous when x is channels_last
    out = x.new_empty(n, rows * 4, cols * 4, k)
    band = max(1, BAND_BYTES // (36 * n * cols * max(c, k) * 4))
    slab_w = cols * 4 + 2
    for r0 in range(0, rows, band):
        r1 = min(rows, r0 + band)
        tiles = (r1 - r0) * cols * n
        # The band's input rows with the zero padding around them (zeroed where no input is).
        slab = x.new_empty(n, (r1 - r0) * 4 + 2, slab_w, c)
        top = r0 * 4 - padding  # the slab's first row in the input's coordinates
        lo, hi = max(0, top), min(h, top + slab.shape[1])
        slab[:, : max(0, lo - top)].zero_()
        slab[:, max(0, hi - top) :].zero_()
        slab[:, :, :padding].zero_()
        slab[:, :, padding + w :].zero_()
        if hi > lo:
            slab[:, lo - top : hi - top, padding : padding + w] = src[:, lo:hi]
        s_n, s_h, s_w, _ = slab.stride()
        d = slab.as_strided((6, 6, n, r1 - r0, cols, c), (s_h, s_w, s_n, 4 * s_h, 4 * s_w, 1))
        v = torch.mm(_IN, d.reshape(36, tiles * c)).view(36, tiles, c)
        m = torch.bmm(v, kernel)  # (36, tiles, K)
        y = torch.mm(_OUT, m.view(36, tiles * k)).view(4, 4, n, r1 - r0, cols, k)
        dest = out[:, r0 * 4 : r1 * 4].view(n, r1 - r0, 4, cols, 4, k)
        y = y.permute(2, 3, 0, 4, 1, 5)
        if bias is None:
            dest.copy_(y)
        else:
            torch.add(y, bias, out=dest)
        if relu:
            dest.clamp_min_(0)
    if out.shape[1] != out_h or out.shape[2] != out_w:
        out = out[:, :out_h, :out_w].contiguous()
    return out.permute(0, 3, 1, 2)  # (N, K, H, W), channels_last in memory
