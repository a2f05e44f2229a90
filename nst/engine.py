"""Gatys et al. (2015) neural style transfer, coarse to fine.

The image itself is optimised so that its VGG19 features match the content image at one deep
layer and the Gram matrices of the style images at several layers. Work starts at a small
size, where steps are cheap, and the result is upsampled to seed each larger size.

The loss is jcjohnson/neural-style's (nst/losses.py), for every preset; the `reference`
preset also runs its optimisation as neural-style does (from noise, plain L-BFGS, one scale,
1000 steps) and is the yardstick of bench/bench_quality.py. The fast presets start from the
photo and work coarse to fine (nst/start.py), with their style weight scaled, per pair, so
that strength 1 lands on the reference's balance (nst/balance.py). A scale too large for one
pass through the network runs in tiles with the exact same loss and gradient (nst/tiles.py,
nst/memory.py), so the full preset paints a canvas at its own size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from nst import balance, estimate, images, start, tiles
from nst.device import pick_device, pick_precision
from nst.errors import NSTError, NumericalError, OutOfMemory, ParamsError
from nst.estimate import schedule  # noqa: F401 (part of the engine's API)
from nst.images import ImageInput
from nst.losses import Objective
from nst.optimise import CancelFlag, NonFinite, check_cancel, optimise_scale
from nst.params import Params
from nst.vgg import load_vgg19

log = logging.getLogger("nst")


@dataclass
class Progress:
    """What a progress callback receives after every step (one loss evaluation)."""

    scale: int  # 1-based index of the current scale
    scales: int
    width: int  # working size of this scale
    height: int
    step: int  # steps done, over all scales
    steps: int  # steps in the whole run
    loss: float
    elapsed: float  # seconds since the run started
    eta: float | None  # seconds left, estimated from the work done (None at first)
    _image: torch.Tensor | None = None
    tile: int = 0  # on a tiled scale: tiles done in the current step (two passes over them)
    tiles: int = 0  # tiles per step on a tiled scale, 0 on an untiled one

    @property
    def fraction(self) -> float:
        done = self.step + (self.tile / self.tiles if self.tiles else 0.0)
        return min(1.0, done / self.steps) if self.steps else 1.0

    def preview(self) -> Image.Image:
        """The current state as an RGB image at this scale's working size."""
        return images.to_image(self._image)


ProgressCallback = Callable[[Progress], None]


def stylize(
    content: ImageInput,
    styles: ImageInput | Sequence[ImageInput],
    params: Params | dict | None = None,
    *,
    mask: ImageInput | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag = None,
    max_pixels: int = images.DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Repaint `content` in the style of `styles`; returns an image of the content's size.

    content, styles, mask: file paths or PIL images. RGBA content gives an RGBA result with
    the original alpha; a mask (L, 0..255, content's size) blends result (255) and original.
    progress: called after every step with a Progress. cancel: a threading.Event or a
    callable; when set, the run stops within one step and raises Cancelled.
    """
    params = Params.from_dict(params) if isinstance(params, dict) or params is None else params
    style_images, blend = open_styles(styles, params, max_pixels)
    content_image = images.open_image(content, "content image", max_pixels)
    content_rgb, alpha = images.split_alpha(content_image)
    mask_image = images.prepare_mask(mask, content_rgb.size, max_pixels)

    try:
        result = _optimise_safely(params, content_rgb, style_images, blend, progress, cancel)
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:  # (torch.OutOfMemoryError: 2.5+)
        raise OutOfMemory(_oom_message(params)) from exc
    except RuntimeError as exc:  # the CPU and MPS allocators' failures are plain RuntimeErrors
        message = str(exc)
        if "can't allocate memory" not in message and "MPS backend out of memory" not in message:
            raise
        raise OutOfMemory(_oom_message(params)) from exc

    out = images.to_image(result)
    if out.size != content_rgb.size:
        out = out.resize(content_rgb.size, Image.Resampling.LANCZOS)
    if params.preserve_colors == "luminance":
        # Done at full resolution so colour edges stay as sharp as in the original.
        lum = images.luminance_only(images.to_tensor(out), images.to_tensor(content_rgb))
        out = images.to_image(lum)
    return images.restore_alpha_and_mask(out, content_rgb, alpha, mask_image)


def open_styles(
    styles: ImageInput | Sequence[ImageInput], params: Params, max_pixels: int
) -> tuple[list[Image.Image], list[float]]:
    """The style images (RGB, opened and checked) and their blend weights, summing to 1."""
    style_list = (
        [styles]
        if isinstance(styles, (str, Image.Image)) or hasattr(styles, "__fspath__")
        else list(styles)
    )
    if not style_list:
        raise NSTError("at least one style image is needed")
    blend = params.style_blend or [1.0] * len(style_list)
    if len(blend) != len(style_list):
        raise ParamsError(
            "style_blend", f"has {len(blend)} weights but there are {len(style_list)} style images"
        )
    style_images = [
        images.split_alpha(images.open_image(s, f"style image {i + 1}", max_pixels))[0]
        for i, s in enumerate(style_list)
    ]
    return style_images, [b / sum(blend) for b in blend]


DIVERGED = (
    "the optimisation diverged (its loss became NaN or infinite, also in float32), so "
    "there is no result; try a lower strength or smoothness, other weights, or the CPU"
)


def _optimise_safely(
    params: Params,
    *args,
    optimise: Callable[..., torch.Tensor] | None = None,
    diverged: str = DIVERGED,
) -> torch.Tensor:
    """optimise (default _optimise); if the loss turns NaN or infinite in reduced precision (a
    device whose bf16 or fp16 misbehaves), the run starts again in float32. Never a garbage
    image as a result: NumericalError(diverged) if float32 fails too."""
    optimise = optimise or _optimise
    try:
        return optimise(params, *args)
    except NonFinite:
        if pick_precision(params.precision, pick_device(params.device)) != torch.float32:
            log.warning("the loss became NaN or infinite in reduced precision: again in float32")
            try:
                return optimise(params.replace(precision="fp32"), *args)
            except NonFinite:
                pass
    raise NumericalError(diverged)


def _oom_message(params: Params) -> str:
    return (
        f"out of memory at working size {params.size_text}: use a smaller size or "
        "quality preset, or run on a device with more memory"
    )


def _optimise(
    params: Params,
    content_rgb: Image.Image,
    style_images: list[Image.Image],
    blend: list[float],
    progress: ProgressCallback | None,
    cancel: CancelFlag,
) -> torch.Tensor:
    device = pick_device(params.device)
    dtype = pick_precision(params.precision, device)
    model = load_vgg19(params.weights, params.pooling, device)
    # Before the first step: loading the weights takes seconds on a slow CPU (2 s in float32
    # on AVX2), and a cancel in that time was only seen a scale's set-up later.
    check_cancel(cancel)
    generator = torch.Generator().manual_seed(params.seed)

    plan = estimate.plan(params, *content_rgb.size, dtype, device)
    tracker = _Tracker(plan, progress)
    on_tile = tile_reporter(tracker, cancel)

    final = plan[-1]
    measure = balance.measure_size(content_rgb.size, max(final.width, final.height))
    at = estimate.Scale(*measure, 0, None)
    photo, paintings = scale_inputs(content_rgb, style_images, at, params, device)
    gain = balance.pair_gain(model, params, photo, paintings, blend, dtype)
    del photo, paintings
    check_cancel(cancel)
    image: torch.Tensor | None = None
    boost = 1.0  # the last scale's conv4_1 gain, from the scale below (balance.deep_boost)
    for index, scale in enumerate(plan):
        iterations, core = scale.steps, scale.core
        tracker.scale = index + 1
        # Tiled scales keep the image and the optimiser's vectors in host memory on a GPU:
        # only the tiles and the targets need the device.
        host = torch.device("cpu") if core is not None else device
        content_t, style_ts = scale_inputs(content_rgb, style_images, scale, params, host)
        last = index == len(plan) - 1
        gains = balance.style_gains(params, gain, final=last, boost=boost)
        args = (model, params, content_t, style_ts, blend, dtype)
        if core is None:
            objective = Objective(*args, style_gains=gains)
        else:
            objective = tiles.TiledObjective(*args, style_gains=gains, core=core, on_tile=on_tile)
        if image is None:
            image = start.first_image(params, content_t, style_ts, blend, generator)
        else:
            image = start.step_up(image.to(host), content_t, params, style_ts, blend)
        del content_t, style_ts  # the objective keeps their features; at 4K they are 200 MB
        image = optimise_scale(params, objective, image, iterations, cancel, tracker)
        if index == len(plan) - 2 and objective.layer_weights and balance.boosts(params):
            boost = balance.deep_boost(params, objective.style_errors(image))
    assert image is not None
    seconds, work = tracker.elapsed_after_first(), tracker.work_after_first()
    estimate.learn(device, dtype, seconds, work, params.is_reference)
    return image


def scale_styles(
    style_images: list[Image.Image], scale: estimate.Scale, params: Params, device: torch.device
) -> list[torch.Tensor]:
    """The style images as tensors for one scale: long edge the scale's times style_scale."""
    size = max(16, round(max(scale.width, scale.height) * params.style_scale))
    return [images.to_tensor(images.resize_long_edge(s, size)).to(device) for s in style_images]


def scale_inputs(
    content_rgb: Image.Image,
    style_images: list[Image.Image],
    scale: estimate.Scale,
    params: Params,
    device: torch.device,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The photo and the paintings as one scale of stylize sees them."""
    size = (scale.width, scale.height)
    content_t = images.to_tensor(images.resize_to(content_rgb, size)).to(device)
    style_ts = scale_styles(style_images, scale, params, device)
    if params.preserve_colors == "histogram":
        style_ts = [images.match_colors(s, content_t) for s in style_ts]
    return content_t, style_ts


def tile_reporter(tracker: _Tracker, cancel: CancelFlag) -> Callable[[int, int], None]:
    """The on_tile callback of a tiled objective: cancel within a tile, progress per tile."""

    def on_tile(done: int, total: int) -> None:
        check_cancel(cancel)
        tracker.tile(done, total)

    return on_tile


class _Tracker:
    """Counts steps over the whole plan and reports Progress, with an ETA from the cost model
    of nst/estimate.py."""

    def __init__(self, plan: list[estimate.Scale], callback: ProgressCallback | None):
        self.plan, self.callback = plan, callback
        self.total_steps = sum(s.steps for s in plan)
        # Each scale first computes its targets: about one step's work (as in nst/estimate.py).
        self.total_work = sum(s.work * (s.steps + 1) for s in plan)
        self.scale_steps = 0
        self.start = time.perf_counter()
        self.scale = 1
        self.steps = 0
        self.work = 0.0
        self.first: tuple[float, float] | None = None  # (time, work) after the first report
        self.last: tuple[float, torch.Tensor] | None = None  # loss and image after a step

    def elapsed_after_first(self) -> float:
        return 0.0 if self.first is None else time.perf_counter() - self.first[0]

    def work_after_first(self) -> float:
        return 0.0 if self.first is None else self.work - self.first[1]

    def step(self, loss: float, image: torch.Tensor) -> None:
        self.steps += 1
        scale = self.plan[self.scale - 1]
        if self.scale_steps == self.scale:  # still on the scale of the last step
            self.work += scale.work
        else:  # the first step of a scale: its targets were computed too
            self.scale_steps = self.scale
            self.work += 2 * scale.work
        self.last = (loss, image)
        self._report(self.work, loss, image)

    def tile(self, done: int, total: int) -> None:
        """Within a tiled step: `done` of `total` tile passes are finished."""
        if self.last is None:
            return
        partial = self.work + self.plan[self.scale - 1].work * done / total
        self._report(partial, *self.last, tile=done, tiles=total)

    def _report(
        self, work: float, loss: float, image: torch.Tensor, tile: int = 0, tiles: int = 0
    ) -> None:
        now = time.perf_counter()
        # The first step pays one-off set-up (weights, kernel selection): the rate is measured
        # from the end of it.
        eta = None
        if self.first is None:
            self.first = (now, work)
        elif self.steps >= 3 and work > self.first[1]:
            rate = (now - self.first[0]) / (work - self.first[1])
            eta = rate * (self.total_work - work)
        if self.callback is None:
            return
        h, w = image.shape[-2:]
        elapsed = now - self.start
        self.callback(
            Progress(
                scale=self.scale,
                scales=len(self.plan),
                width=w,
                height=h,
                step=self.steps,
                steps=self.total_steps,
                loss=loss,
                elapsed=elapsed,
                eta=eta,
                _image=image.detach(),
                tile=tile,
                tiles=tiles,
            )
        )
