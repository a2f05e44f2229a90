"""The run's plan (scales, steps, tiles) and its cost: for the ETA and the time estimate.

A step's cost is modelled as its pixel count plus a fixed part (below ~64x64 the 16 layers'
fixed cost dominates), times TILED_STEP_COST on a tiled scale. The device's speed, in
seconds per unit of that cost, is measured once per process on a small step and then
learnt from every finished run, so an estimate on a server gets better as it works. The
reference preset has a speed of its own: its step computes conv5_1 too and, in float32 on a
CPU, runs the direct convolutions where the fast presets run Winograd's (1.5x as long).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch

from nst import balance, memory, tiles
from nst.params import Params

# Fitted on a 2-core CPU, bf16, steps from 64x64 to 512x512 (50, 63, 152, 198, 481 and 818 ms
# at 64x64, 128x80, 256x160, 256x256, 512x320, 512x512): every one within 9%. Without it the
# first ETA of a run was 10x too long; with the earlier 4096 (before the faster Gram backward
# made big steps cheaper) a 128 px step was estimated at 0.65 of its time.
STEP_OVERHEAD_PIXELS = 14000
# A tiled step runs the tiles twice (statistics, then gradients) with their halos; per pixel it
# cost 1.4x to 1.9x a 1024 px one-pass step (bench/bench_tiles.py, 2048 and 4096 px).
TILED_STEP_COST = 1.7
# Below this long edge conv5_1 sees the whole picture, so a coarse scale matches the painting's
# composition rather than its strokes and that survives every finer scale (the copy score in
# bench/bench_quality.py rose with a 64 px scale): coarser scales are dropped.
MIN_SCALE_SIZE = 128
# The full preset paints the normal preset's scales (256 and 512 px: the composition and the
# strokes' size) and then refines them, doubling up to the canvas's own size: a 4K result is
# the normal result with 4K of detail, not a finer texture. Steps per scale: the normal
# preset's (50 at 512 px, 60 below), above it 30 x 512 / edge, at least `iterations` (10).
NORMAL_SIZE = 512
NORMAL = Params(quality="normal")


@dataclass(frozen=True)
class Scale:
    width: int
    height: int
    steps: int
    core: int | None  # tile core edge, or None for one pass

    @property
    def work(self) -> float:
        return step_work(self.width, self.height, self.core is not None)


def step_work(width: int, height: int, tiled: bool = False) -> float:
    return (width * height + STEP_OVERHEAD_PIXELS) * (TILED_STEP_COST if tiled else 1.0)


def schedule(params: Params, width: int, height: int) -> list[tuple[int, int, int]]:
    """(width, height, steps) per scale, coarse to fine.

    Each scale halves the long edge; a coarser scale gets twice the steps of the next finer
    one (the finest scale's own count can differ: Params.coarse_iterations), which still
    costs half as much since it has a quarter of the pixels. The full preset's scales above
    512 px double instead, from 512 up to the canvas.
    """
    long_edge = max(width, height)
    if params.is_native and params.scales is None and long_edge > NORMAL_SIZE:
        edges = [NORMAL_SIZE // 2**k for k in reversed(range(NORMAL.scale_count))]
        while edges[-1] * 2.8 < long_edge:  # the last step up is 1.4x to 2.8x
            edges.append(edges[-1] * 2)
        edges.append(long_edge)
    else:
        edges = [round(long_edge / 2**level) for level in range(params.scale_count)]
        edges = [e for i, e in enumerate(edges) if i == 0 or e >= MIN_SCALE_SIZE][::-1]
    native = params.is_native and params.iterations is None
    normal = [e for e in edges if e <= NORMAL_SIZE]  # the normal preset's part of the plan
    out = []
    for level, edge in enumerate(reversed(edges)):
        steps = _steps(params, level)
        if native and edge > NORMAL_SIZE:
            refine = NORMAL.coarse_iterations * NORMAL_SIZE / edge
            steps = max(params.final_iterations, round(refine))
        elif native:
            steps = _steps(NORMAL, len(normal) - 1 - normal.index(edge))
        w = max(1, round(width * edge / long_edge))
        h = max(1, round(height * edge / long_edge))
        out.append((w, h, steps))
    return out[::-1]


def _steps(params: Params, level: int) -> int:
    """Steps at `level` scales below the finest (0: the finest itself)."""
    return params.final_iterations if level == 0 else params.coarse_iterations * 2**level


def plan(
    params: Params,
    width: int,
    height: int,
    dtype: torch.dtype,
    device: torch.device,
    halo: int | None = None,
) -> list[Scale]:
    """The scales of a run on a content of this size, with their tiling decided.

    halo: the tiles' halo; by default stylize's (the layers nst/balance.py leaves in).
    """
    work = params.working_size_for(max(width, height))
    w, h = (
        max(1, round(width * work / max(width, height))),
        max(1, round(height * work / max(width, height))),
    )
    if halo is None:
        halo = tiles.halo(params, balance.style_gains(params))
    return [
        Scale(sw, sh, n, memory.tile_core(sw, sh, halo, dtype, device, params.tile_size))
        for sw, sh, n in schedule(params, w, h)
    ]


_speeds: dict[tuple[str, torch.dtype, bool], float] = {}
_lock = threading.Lock()


def speed(device: torch.device, dtype: torch.dtype, reference: bool = False) -> float:
    """Seconds per unit of step work on this device: learnt from runs, or measured now.

    reference: the speed of the reference preset's steps, not the fast presets'.
    """
    key = (str(device), dtype, reference)
    with _lock:
        if key not in _speeds:
            _speeds[key] = _measure(device, dtype, reference)
        return _speeds[key]


def learn(
    device: torch.device, dtype: torch.dtype, seconds: float, work: float, reference: bool
) -> None:
    """Fold a finished run's measured speed into the estimate (a moving average)."""
    if work <= 0 or seconds <= 0:
        return
    key, observed = (str(device), dtype, reference), seconds / work
    with _lock:
        old = _speeds.get(key)
        _speeds[key] = observed if old is None else 0.5 * old + 0.5 * observed


def _measure(device: torch.device, dtype: torch.dtype, reference: bool) -> float:
    from nst.losses import Objective
    from nst.vgg import load_vgg19

    model = load_vgg19("caffe", "max", device)
    generator = torch.Generator().manual_seed(0)
    image = (torch.rand(1, 3, 256, 256, generator=generator) * 255).to(device)
    params = Params(quality="reference" if reference else "normal")
    objective = Objective(model, params, image, [image.flip(-1)], [1.0], dtype)
    times = []
    for _ in range(3):  # the first pays one-off set-up
        start = time.perf_counter()
        objective.value_and_grad(image)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times[1:]) / step_work(256, 256)


def seconds(params: Params, width: int, height: int) -> dict:
    """About how long a run on a content of this size takes here, and its plan."""
    from nst.device import pick_device, pick_precision

    device = pick_device(params.device)
    dtype = pick_precision(params.precision, device)
    scales = plan(params, width, height, dtype, device)
    # Each scale also computes its targets: about one step's work.
    work = sum(s.work * (s.steps + 1) for s in scales)
    return {
        "seconds": round(speed(device, dtype, params.is_reference) * work, 1),
        "device": str(device),
        "scales": [
            {"width": s.width, "height": s.height, "steps": s.steps, "tiled": s.core is not None}
            for s in scales
        ],
    }
