"""The loss every run minimises: Gatys et al. (2015) weighted as jcjohnson/neural-style does.

neural-style's defaults are the canonical Gatys result, so its loss is ours, term for term
(features in Caffe VGG19 units, after the ReLU):

    content = 5   * mean((F - P)^2)                          at conv4_2
    style   = 100 * sum_l mean((G_l - A_l)^2),  G = F F^T / (C H W)   at conv1_1..conv5_1
    tv      = 1e-3 * 1/2 * sum(dx^2 + dy^2)                   over the image in 0..255

`content_weight`, `style_weight` (strength) and `tv_weight` multiply these, so strength 1
is neural-style's balance. Dividing the Gram matrix by C H W makes the style term nearly
independent of the image size and gives the deep layers, whose features describe objects,
little weight; that is what keeps a painting's objects out of the picture. The TV term is a
sum, so its weight depends on the pixel count: it is measured at the reference size (512 px
long edge) at every scale, which makes it the same term as neural-style's at 512 px.

Other weight sets (torchvision's, a file) have features of another magnitude: they are
rescaled per layer to Caffe units (`vgg.caffe_units`) so the same weights keep the balance.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nst.params import Params
from nst.vgg import VGG19Features

CONTENT_WEIGHT = 5.0
STYLE_WEIGHT = 100.0
TV_WEIGHT = 1e-3
# neural-style's default image size: the TV term is a sum, taken as if at this long edge.
REFERENCE_SIZE = 512


def gram(
    features: torch.Tensor, region: tuple[slice, slice] | None = None, exact: bool = True
) -> torch.Tensor:
    """Gram matrix divided by the element count C*H*W: (N, C, H, W) -> (N, C, C), float32.

    region: (rows, columns) of the features to use (a tile's core, nst/tiles.py); C*H*W is
    then the region's. Its gradient is zero elsewhere. exact=False, for bf16 features: the
    product runs in bf16 (summed in float32, rounded to bf16 at the end, 3 significant
    digits), not on a float32 copy, which on the CPU was a fifth of a 512 px step.
    """
    return _Gram.apply(features, region, exact)


class _Gram(torch.autograd.Function):
    """F F^T / (C H W) with a hand-written backward, the step's largest cost otherwise.

    autograd's own (for `flat @ flat.T` on a float32 copy) keeps that copy, runs two matrix
    products and adds them, and returns the gradient in NCHW while the network runs in
    channels_last, so merging it with the next layer's gradient is a slow strided add: 40%
    of a 512 px CPU step (bench/profile_step.py). Here G is symmetric, so the gradient is
    one product, (dG + dG^T) F / (C H W), in the features' own dtype and layout.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor, region, exact: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(features)
        ctx.region = region
        part = features if region is None else features[..., region[0], region[1]]
        n, c, h, w = part.shape
        full = _positions_by_channels(part)
        # fp16 would overflow (sums of squares of features in the thousands): bf16 only.
        if exact or full.dtype != torch.bfloat16:
            full = full.float()  # exact for bf16: summed in float32
        return _matmul(full.transpose(1, 2), full).float() / (c * h * w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (features,) = ctx.saved_tensors
        region = ctx.region
        part = features if region is None else features[..., region[0], region[1]]
        n, c, h, w = part.shape
        # bf16 has float32's range; fp16's could underflow the small dG: float32 there.
        work = torch.bfloat16 if features.dtype == torch.bfloat16 else torch.float32
        sym = ((grad + grad.transpose(1, 2)) / (c * h * w)).to(work)
        flat = _positions_by_channels(part).to(work)
        out = _matmul(flat, sym).to(features.dtype).reshape(n, h, w, c).permute(0, 3, 1, 2)
        if region is None:
            return out.contiguous(memory_format=_layout(features)), None, None
        whole = torch.zeros_like(features)  # keeps the features' layout
        whole[..., region[0], region[1]] = out
        return whole, None, None


def _layout(tensor: torch.Tensor) -> torch.memory_format:
    channels_last = tensor.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for batches; one image (the usual case) as a 2-D product, which the CPU's bf16
    kernels run up to 9x faster than the batched one."""
    return (a[0] @ b[0]).unsqueeze(0) if a.shape[0] == 1 else a @ b


def _positions_by_channels(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W, C): a view in channels_last, the CPU's layout."""
    n, c, h, w = features.shape
    return features.permute(0, 2, 3, 1).reshape(n, h * w, c)


def tv_sum(image: torch.Tensor) -> torch.Tensor:
    """neural-style's total variation: 1/2 * sum of squared right and down differences.

    Like neural-style, over the top-left (H-1) x (W-1) positions.
    """
    x = image[..., :-1, :-1]
    dx = x - image[..., :-1, 1:]
    dy = x - image[..., 1:, :-1]
    return 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())


def tv_sum_wrapped(image: torch.Tensor) -> torch.Tensor:
    """tv_sum on a torus: every pixel, with the last column's and row's neighbours the first
    ones, so a tileable texture pays for its seams as for any other edge."""
    dx = image - image.roll(-1, dims=-1)
    dy = image - image.roll(-1, dims=-2)
    return 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())


def tv_sum_and_grad(
    image: torch.Tensor, grad: torch.Tensor, weight: float, rows: int = 256
) -> float:
    """`weight` x tv_sum(image), adding its gradient into `grad`, a strip of rows at a time:
    autograd would hold several image-sized temporaries (0.5 GB at 4K)."""
    h = image.shape[-2]
    total = 0.0
    for r0 in range(0, h - 1, rows):
        r1 = min(h - 1, r0 + rows)  # rows r0..r1-1 have a row below them
        x = image[..., r0 : r1 + 1, :]
        top = x[..., :-1, :-1]
        dx = top - x[..., :-1, 1:]
        dy = top - x[..., 1:, :-1]
        total += 0.5 * (dx.pow(2).sum() + dy.pow(2).sum()).item()
        g = grad[..., r0 : r1 + 1, :]
        g[..., :-1, :-1] += weight * (dx + dy)
        g[..., :-1, 1:] -= weight * dx
        g[..., 1:, :-1] -= weight * dy
    return weight * total


def style_layer_weights(
    params: Params, style_gains: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Each style layer's weight in the loss; a layer weighted or gained 0 is not computed."""
    # neural-style sums its style layers with weight 1 each; custom weights keep that sum.
    raw = params.style_layer_weights or [1.0] * len(params.style_layers)
    weights = {
        n: w * len(raw) / sum(raw) * (style_gains or {}).get(n, 1.0)
        for n, w in zip(params.style_layers, raw)
    }
    return {n: w for n, w in weights.items() if w > 0}


class Objective:
    """Content + style + TV loss at one size, with the targets computed once."""

    def __init__(
        self,
        model: VGG19Features,
        params: Params,
        content: torch.Tensor | None,
        styles: list[torch.Tensor],
        blend: list[float],
        dtype: torch.dtype = torch.float32,
        tv_reference_size: int | None = REFERENCE_SIZE,
        style_gains: Mapping[str, float] | None = None,
        wrap: bool = False,
    ):
        """style_gains: a factor per style layer (the fast presets', balance.style_gains);
        layers it does not name keep 1."""
        self.model = model
        self.dtype = dtype
        self.wrap = wrap  # a torus: tileable textures (vgg.VGG19Features.forward)
        self.content_layer = params.content_layer
        self.content_weight = CONTENT_WEIGHT * params.content_weight
        self.style_weight = STYLE_WEIGHT * params.style_weight
        self.tv_weight = TV_WEIGHT * params.tv_weight
        self.tv_reference_size = tv_reference_size
        # The fast presets' image Gram matrices in bf16 (gram(exact=False)): the same results
        # within run-to-run noise on 24 pairs (bench/bench_quality.py), 10% off a 512 px step.
        # The reference, the yardstick, and the style targets (made once) stay exact.
        self.exact_gram = params.is_reference
        # Likewise their float32 convolutions as Winograd's on the CPU (nst/winograd.py).
        self.winograd = not params.is_reference
        self.layer_weights = style_layer_weights(params, style_gains)
        if self.style_weight == 0 or not styles:  # content only (a reconstruction)
            self.layer_weights = {}
        wanted = set(self.layer_weights) | ({self.content_layer} if content is not None else set())
        self.layers = sorted(wanted)
        with torch.no_grad():
            self.content_target = None if content is None else self._content_target(content)
            grams: dict[str, torch.Tensor] = {}
            for style, weight in zip(styles, blend):
                for name, g in self._grams(style, list(self.layer_weights)).items():
                    grams[name] = grams[name] + g * weight if name in grams else g * weight
            self.style_targets = grams

    def _content_target(self, content: torch.Tensor) -> torch.Tensor:
        return self.features(content, [self.content_layer])[self.content_layer].float()

    def _grams(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        feats = self.features(image, layers)
        return {name: gram(feats[name]) for name in layers}

    def features(self, image: torch.Tensor, layers: list[str] | None = None) -> dict:
        """Activations in Caffe units (autocast to the run's precision)."""
        enabled = self.dtype != torch.float32
        with torch.autocast(image.device.type, dtype=self.dtype, enabled=enabled):
            return self.model(image, layers or self.layers, wrap=self.wrap, winograd=self.winograd)

    def terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The unweighted terms: content (MSE), style (per layer, MSE of Grams), tv (sum)."""
        feats = self.features(image)
        out: dict[str, torch.Tensor] = {}
        if self.content_target is not None:
            diff = feats[self.content_layer].float() - self.content_target
            out["content"] = diff.pow(2).mean()
        for name in self.layer_weights:
            g = gram(feats[name], exact=self.exact_gram)
            out[name] = (g - self.style_targets[name]).pow(2).mean()
        out["tv"] = tv_sum_wrapped(image) if self.wrap else tv_sum(image)
        return out

    def style_errors(self, image: torch.Tensor) -> dict[str, float]:
        """Each style layer's unweighted term (the MSE of its Gram matrix), without gradients;
        tiled where the objective is (TiledObjective._grams)."""
        with torch.no_grad():
            grams = self._grams(image, list(self.layer_weights))
        return {
            name: (g - self.style_targets[name]).pow(2).mean().item() for name, g in grams.items()
        }

    def tv_scale(self, image: torch.Tensor) -> float:
        """Factor that makes the TV sum at this size equal to the sum at the reference size."""
        if self.tv_reference_size is None:
            return 1.0
        return (self.tv_reference_size / max(image.shape[-2:])) ** 2

    def value_and_grad(self, image: torch.Tensor, scale: float = 1.0) -> tuple[float, torch.Tensor]:
        """The loss at `image` and the gradient of `scale` x loss with respect to it."""
        image = image.detach().requires_grad_(True)
        loss = self(image)
        (loss * scale).backward()
        assert image.grad is not None
        return loss.item(), image.grad

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        t = self.terms(image)
        loss = image.new_zeros(())
        if "content" in t:
            loss = loss + self.content_weight * t["content"]
        if self.layer_weights:
            style = sum(w * t[name] for name, w in self.layer_weights.items())
            loss = loss + self.style_weight * style
        if self.tv_weight:
            loss = loss + self.tv_weight * self.tv_scale(image) * t["tv"]
        return loss
