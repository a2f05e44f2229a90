"""Exact tiled evaluation of the loss and its gradient, for images too large for one pass.

Memory of a forward and backward pass through VGG19 grows with the pixel count (about
2.3 KB a pixel in bf16 on the CPU), so a 4K canvas does not fit in one pass. Cutting the image
into tiles and stylising them apart shows seams and style drift; this does not. The loss is
computed in two passes over the tiles:

1. Without gradients: each tile, with a halo of real neighbouring pixels as wide as the
   receptive field, gives exact features in its core; the cores' Gram matrices and content
   errors add up to those of the whole image.
2. With gradients: each tile's core features get the gradient the whole-image loss gives
   them (for the Gram term, 2 (G - A) F / C^2 per layer, with G from pass 1). Backpropagated
   through the tile, that is the exact contribution of those features to the gradient of
   every pixel they depend on, which lies inside the tile (core plus halo); summed over the
   tiles, the whole gradient.

The result equals an untiled pass up to floating-point rounding, so there are no seams by
construction, and peak memory depends on the tile, not the canvas. Tile edges lie on a
16-pixel grid (VGG19's stride at conv5_1) so every pooling window falls as in the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from nst.losses import Objective, gram, style_layer_weights, tv_sum_and_grad
from nst.params import Params
from nst.vgg import LAYER_NAMES, VGG19Features

CELL = 16  # VGG19's stride at conv5_1: the grid every tile edge lies on

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 in pixels, end exclusive


def stride(layer: str) -> int:
    """Pixels per feature position at a conv layer (conv3_x: 4)."""
    return 2 ** (int(layer[4]) - 1)


def reach(layers: list[str]) -> int:
    """How far (px) from a feature position's own cell its inputs lie, at the deepest layer.

    Each 3x3 convolution adds one position at its stride on both sides; each 2x2 pooling
    one on the far side. Rounded up to the cell grid. conv5_1: 70 px, 80 on the cell grid.
    """
    deepest = max(LAYER_NAMES.index(name) for name in layers)
    left = right = 0
    s = 1
    for name in LAYER_NAMES[: deepest + 1]:
        if name.endswith("_1") and name != "conv1_1":
            right += s  # the pooling window's second position
            s *= 2
        left, right = left + s, right + s
    span = max(left, right - (s - 1))  # measured from the edges of the position's own cell
    return CELL * math.ceil(span / CELL)


def halo(params: Params, style_gains: Mapping[str, float] | None = None) -> int:
    """The halo a run's tiles need: the reach of its deepest layer in use. The fast presets'
    gains leave conv5_1 out (nst/balance.py): conv4_2's 48 px instead of conv5_1's 80."""
    return reach([*style_layer_weights(params, style_gains), params.content_layer])


@dataclass(frozen=True)
class Tile:
    core: Box  # the pixels whose features this tile owns
    box: Box  # the core and its halo, clipped to the image: what runs through the network


def _spans(length: int, core: int) -> list[tuple[int, int]]:
    """Split 0..length into near-equal spans whose inner edges lie on the cell grid."""
    count = max(1, math.ceil(length / core))
    edges = [0] + [CELL * round(length * i / count / CELL) for i in range(1, count)] + [length]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def grid(height: int, width: int, core: int, halo: int) -> list[Tile]:
    """Tiles with cores of at most about `core` px covering the image, each with its halo."""
    tiles = []
    for y0, y1 in _spans(height, core):
        for x0, x1 in _spans(width, core):
            box = (
                max(0, y0 - halo),
                min(height, y1 + halo),
                max(0, x0 - halo),
                min(width, x1 + halo),
            )
            tiles.append(Tile((y0, y1, x0, x1), box))
    return tiles


def feature_slice(tile: Tile, region: Box, layer: str) -> tuple[slice, slice]:
    """Where the features of the pixels in `region` lie in the tile's features at `layer`.

    Region and box start on the cell grid; a region's end is on it too or is the image's edge,
    where the box ends as well (pooling rounds up, as in the whole image).
    """
    s = stride(layer)
    y0, x0 = tile.box[0], tile.box[2]
    rows = slice((region[0] - y0) // s, -(-(region[1] - y0) // s))
    cols = slice((region[2] - x0) // s, -(-(region[3] - x0) // s))
    return rows, cols


def global_slice(region: Box, layer: str) -> tuple[slice, slice]:
    """Where the features of the pixels in `region` lie in the whole image's features."""
    s = stride(layer)
    return slice(region[0] // s, -(-region[1] // s)), slice(region[2] // s, -(-region[3] // s))


def crop(image: torch.Tensor, box: Box) -> torch.Tensor:
    return image[..., box[0] : box[1], box[2] : box[3]]


TileCallback = Callable[[int, int], None]  # (tiles done, tiles in this evaluation)


class TiledObjective(Objective):
    """The same loss as Objective, evaluated tile by tile (see the module's docstring).

    `core` is the tile's core edge in pixels; `on_tile` is called after every tile (the
    engine checks for cancel there and reports progress).
    """

    def __init__(
        self,
        model: VGG19Features,
        params: Params,
        content: torch.Tensor | None,
        styles: list[torch.Tensor],
        blend: list[float],
        dtype: torch.dtype = torch.float32,
        *,
        core: int,
        on_tile: TileCallback | None = None,
        style_gains: Mapping[str, float] | None = None,
    ):
        # Set before Objective.__init__, which computes the targets through these tiles.
        self.core = max(CELL, CELL * (core // CELL))
        self.on_tile = on_tile
        self.halo = halo(params, style_gains)
        # The images may live in host memory while the network runs on a GPU: tiles move.
        self.device = model.mean.device
        super().__init__(model, params, content, styles, blend, dtype, style_gains=style_gains)

    def tiles(self, image: torch.Tensor) -> list[Tile]:
        h, w = image.shape[-2:]
        return grid(h, w, self.core, self.halo)

    def _tile(self, image: torch.Tensor, tile: Tile) -> torch.Tensor:
        return crop(image, tile.box).to(self.device).contiguous()

    def _tick(self, done: int, total: int) -> None:
        if self.on_tile is not None:
            self.on_tile(done, total)

    # -- targets: the same as Objective's, assembled from tiles -------------------------------
    def _content_target(self, content: torch.Tensor) -> torch.Tensor:
        layer = self.content_layer
        h, w = content.shape[-2:]
        s = stride(layer)
        target = None
        for tile in self.tiles(content):
            f = self.features(self._tile(content, tile), [layer])[layer]
            if target is None:  # in the features' own dtype: bf16 features are exact in bf16
                target = f.new_empty(1, f.shape[1], -(-h // s), -(-w // s))
            rows, cols = feature_slice(tile, tile.core, layer)
            grows, gcols = global_slice(tile.core, layer)
            target[..., grows, gcols] = f[..., rows, cols]
        assert target is not None
        return target

    def _grams(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        sums, _ = self._statistics(image, layers, with_content=False)
        return {name: sums[name] / self._positions(image, name) for name in layers}

    def _statistics(
        self, image: torch.Tensor, layers: list[str], with_content: bool, tick: bool = False
    ) -> tuple[dict[str, torch.Tensor], float]:
        """Pass 1: the whole image's unnormalised Gram matrices (F F^T) at `layers` and its
        summed squared content error, from the tiles' cores, without gradients."""
        sums: dict[str, torch.Tensor] = {}
        content_sum = 0.0
        tiles = self.tiles(image)
        wanted = sorted(set(layers) | ({self.content_layer} if with_content else set()))
        with torch.no_grad():
            for i, tile in enumerate(tiles):
                feats = self.features(self._tile(image, tile), wanted)
                for name in layers:
                    g = _gram_sum(feats[name], tile, tile.core, name)
                    sums[name] = sums[name] + g if name in sums else g
                if with_content:
                    content_sum += self._content_error(feats, tile).item()
                del feats
                if tick:
                    self._tick(i + 1, 2 * len(tiles))
        return sums, content_sum

    def _positions(self, image: torch.Tensor, layer: str) -> int:
        """C x H x W of the whole image's features at `layer` (Gram's normaliser)."""
        h, w = image.shape[-2:]
        s = stride(layer)
        channels = self.model.convs[layer].out_channels
        return channels * -(-h // s) * -(-w // s)

    # -- the loss and its gradient ------------------------------------------------------------
    def value_and_grad(self, image: torch.Tensor, scale: float = 1.0) -> tuple[float, torch.Tensor]:
        image = image.detach()
        tiles = self.tiles(image)
        style_layers = list(self.layer_weights)

        with_content = self.content_target is not None
        grams, content_sum = self._statistics(image, style_layers, with_content, tick=True)

        loss = 0.0
        # d loss / d G per layer: the style term is weight * mean((G - A)^2) over C x C.
        dgram: dict[str, torch.Tensor] = {}
        for name, w in self.layer_weights.items():
            norm = self._positions(image, name)
            diff = grams[name] / norm - self.style_targets[name]
            c = diff.shape[-1]
            loss += self.style_weight * w * diff.pow(2).mean().item()
            dgram[name] = self.style_weight * w * 2 * diff / (c * c) / norm * scale
        content_count = 0
        if with_content:
            content_count = self.content_target.numel()
            loss += self.content_weight * content_sum / content_count

        # Pass 2: each tile's core features get their share of the gradient.
        grad = torch.zeros_like(image)
        for i, tile in enumerate(tiles):
            x = self._tile(image, tile).requires_grad_(True)
            feats = self.features(x, self.layers)
            surrogate = x.new_zeros(())
            for name in style_layers:
                g = _gram_sum(feats[name], tile, tile.core, name)
                surrogate = surrogate + (dgram[name] * g).sum()
            if with_content:
                error = self._content_error(feats, tile)
                surrogate = surrogate + self.content_weight * scale / content_count * error
            surrogate.backward()
            del feats, surrogate
            assert x.grad is not None
            crop(grad, tile.box).add_(x.grad.to(grad.device))
            self._tick(len(tiles) + i + 1, 2 * len(tiles))

        if self.tv_weight:  # a sum of neighbour differences: on the whole image, in strips
            weight = self.tv_weight * self.tv_scale(image)
            loss += tv_sum_and_grad(image, grad, weight * scale) / scale
        return loss, grad

    def _content_error(self, feats: dict, tile: Tile) -> torch.Tensor:
        """Sum of squared content differences over the tile's core features."""
        assert self.content_target is not None
        layer = self.content_layer
        rows, cols = feature_slice(tile, tile.core, layer)
        grows, gcols = global_slice(tile.core, layer)
        target = self.content_target[..., grows, gcols].float()
        return (feats[layer][..., rows, cols].float() - target).pow(2).sum()

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.value_and_grad(image)[0])


def _gram_sum(features: torch.Tensor, tile: Tile, region: Box, layer: str) -> torch.Tensor:
    """F F^T over the features of `region` (float32, not normalised)."""
    rows, cols = feature_slice(tile, region, layer)
    return gram(features, (rows, cols)) * features[0, :, rows, cols].numel()
