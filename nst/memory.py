"""How much memory a scale needs, and the tiling and optimiser history that keep it in budget.

A forward and backward pass through VGG19 (to conv5_1) costs about this many bytes a pixel,
measured as the peak resident memory of one step on the CPU (bench/bench_tiles.py): 2.3 KB
in bf16, 2.9 KB in float32, from 512 to 1024 px. No GPU figures yet: the same are assumed.
"""

from __future__ import annotations

import math
import os

import torch

GIB = 1 << 30
BYTES_PER_PIXEL = {torch.bfloat16: 2400, torch.float16: 2400, torch.float32: 2900}
# One pass may use at most this much, or half of what the device has free if that is less.
# Images up to about 0.9 megapixels (1152x768) run in one pass; larger ones in tiles of about
# that size (cores of 784 px), which cost no more per pixel than one pass from 2048 px up
# (bench/bench_tiles.py), and keep a 4K run within 6 GB of RAM all told.
PASS_BUDGET = 2 * GIB
# L-BFGS keeps two image-sized vectors per history entry: at most this much for them.
HISTORY_BUDGET = 1 * GIB
MAX_HISTORY, MIN_HISTORY = 50, 5
MIN_TILE = 128


def available(device: torch.device) -> int:
    """Bytes free on the device now (CPU: MemAvailable)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # macOS, BSDs
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * GIB


def pass_budget(device: torch.device) -> int:
    return min(PASS_BUDGET, available(device) // 2)


def tile_core(
    width: int,
    height: int,
    halo: int,
    dtype: torch.dtype,
    device: torch.device,
    requested: int | None = None,
) -> int | None:
    """The tile core edge (px) for a scale of this size, or None to run it in one pass.

    `requested` (the `tile_size` param) forces tiles of that core; otherwise tiles are used
    only when one pass would not fit the budget, and are then as large as it allows.
    """
    if requested is not None:
        return requested if requested < max(width, height) else None
    per_pixel = BYTES_PER_PIXEL.get(dtype, BYTES_PER_PIXEL[torch.float32])
    fits = pass_budget(device) // per_pixel
    if width * height <= fits:
        return None
    side = int(math.sqrt(fits))
    return max(MIN_TILE, 16 * ((side - 2 * halo) // 16))


def lbfgs_history(pixels: int) -> int:
    """History entries that fit HISTORY_BUDGET (two float32 RGB vectors each), 5 to 50."""
    entry = 2 * 3 * 4 * pixels
    return max(MIN_HISTORY, min(MAX_HISTORY, HISTORY_BUDGET // entry))
