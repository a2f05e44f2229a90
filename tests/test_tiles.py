"""Tiled evaluation: the same loss and gradient as one pass, no seams, cancel within a tile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nst
from nst import balance, images, memory
from nst.engine import schedule
from nst.losses import Objective
from nst.tiles import CELL, TiledObjective, grid, halo, reach
from nst.vgg import load_vgg19


def gradient_photo(width: int, height: int) -> Image.Image:
    """A smooth two-way colour gradient: any seam would show on it."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([255 * x / width, 255 * y / height, 128 + 60 * np.sin(x / 40.0)], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def test_reach_is_the_receptive_field_on_the_cell_grid() -> None:
    # conv5_1 sees 156 px: its own 16 px cell and 70 px on each side, 80 on the 16 px grid.
    assert reach(["conv5_1"]) == 80
    assert reach(["conv1_1", "conv4_2"]) == 48  # 38 px
    assert reach(["conv1_1"]) == 16  # 1 px


@pytest.mark.parametrize("size", [(384, 256), (1000, 333), (129, 700)])
def test_tile_cores_cover_the_image_once_on_the_cell_grid(size) -> None:
    w, h = size
    tiles = grid(h, w, 128, 80)
    cover = np.zeros((h, w), int)
    for t in tiles:
        y0, y1, x0, x1 = t.core
        cover[y0:y1, x0:x1] += 1
        by0, by1, bx0, bx1 = t.box
        assert by0 % CELL == 0 and bx0 % CELL == 0  # pooling windows fall as in the image
        assert by0 == max(0, y0 - 80) and by1 == min(h, y1 + 80)
        assert bx0 == max(0, x0 - 80) and bx1 == min(w, x1 + 80)
        assert y1 - y0 <= 160 and x1 - x0 <= 160
    assert (cover == 1).all()


@pytest.mark.parametrize("gains", ["all layers", "fast presets'"])
def test_tiled_loss_and_gradient_equal_the_untiled_ones(content_path, style_path, gains) -> None:
    # The check: 384x256 with 128 px tiles, to 1e-3 relative error (float32). With
    # the fast presets' gains conv5_1 is left out and the halo is conv4_2's.
    params = nst.Params()
    style_gains = balance.style_gains(params) if gains == "fast presets'" else None
    assert halo(params, style_gains) == (48 if style_gains else 80)
    model = load_vgg19("caffe", "max", "cpu")
    content = images.to_tensor(Image.open(content_path).convert("RGB").resize((384, 256)))
    style = images.to_tensor(Image.open(style_path).convert("RGB").resize((300, 240)))
    noise = torch.randn(content.shape, generator=torch.Generator().manual_seed(0))
    x = (content + 30 * noise).clamp(0, 255)
    whole = Objective(model, params, content, [style], [1.0], style_gains=style_gains)
    tiled = TiledObjective(
        model, params, content, [style], [1.0], core=128, style_gains=style_gains
    )
    assert len(tiled.tiles(x)) == 6
    loss_a, grad_a = whole.value_and_grad(x)
    loss_b, grad_b = tiled.value_and_grad(x)
    assert abs(loss_b - loss_a) / loss_a < 1e-3
    assert ((grad_b - grad_a).norm() / grad_a.norm()).item() < 1e-3
    for name, target in whole.style_targets.items():
        assert torch.allclose(tiled.style_targets[name], target, rtol=1e-4, atol=1e-3)


def test_tiled_result_matches_untiled_without_seams() -> None:
    # Same optimisation, in tiles and in one pass: at most 1 grey level apart everywhere.
    photo = gradient_photo(256, 192)
    style = gradient_photo(128, 128).rotate(90)
    base = {"size": 256, "scales": 1, "iterations": 6, "precision": "fp32", "seed": 0}
    one = np.asarray(nst.stylize(photo, style, base), dtype=int)
    tiled = np.asarray(nst.stylize(photo, style, {**base, "tile_size": 128}), dtype=int)
    assert np.abs(one - tiled).max() <= 1


def test_tiled_run_reports_tiles_and_cancels_within_one(tiny_style) -> None:
    seen = []

    def progress(p: nst.Progress) -> None:
        seen.append((p.step, p.tile, p.tiles))

    ticks = {"n": 0}

    def cancel() -> bool:  # asked before every tile pass: stop in the second step's passes
        ticks["n"] += 1
        return ticks["n"] > 14

    params = {"size": 192, "scales": 1, "iterations": 20, "tile_size": 128}
    with pytest.raises(nst.Cancelled):
        nst.stylize(gradient_photo(192, 128), tiny_style, params, progress=progress, cancel=cancel)
    assert max(t for _, _, t in seen) == 4  # 2 tiles, two passes each
    assert any(s == 1 and 0 < t < 4 for s, t, _ in seen)  # reported within a step
    assert max(s for s, _, _ in seen) < 20


def test_tiles_only_where_memory_asks(monkeypatch) -> None:
    cpu, bf16 = torch.device("cpu"), torch.bfloat16
    assert memory.tile_core(512, 320, 80, bf16, cpu) is None
    assert memory.tile_core(512, 320, 80, bf16, cpu, requested=256) == 256
    assert memory.tile_core(512, 320, 80, bf16, cpu, requested=1024) is None  # one tile
    monkeypatch.setattr(memory, "PASS_BUDGET", 400 * 2400)  # room for 400 pixels only
    assert memory.tile_core(512, 320, 80, bf16, cpu) == memory.MIN_TILE
    monkeypatch.setattr(memory, "PASS_BUDGET", 1000 * 1000 * 2400)  # one megapixel
    core = memory.tile_core(4000, 3000, 80, bf16, cpu)
    assert core is not None and core + 2 * 80 <= 1000 and core % CELL == 0


def test_lbfgs_history_shrinks_with_the_image() -> None:
    assert memory.lbfgs_history(512 * 320) == memory.MAX_HISTORY
    big = memory.lbfgs_history(3840 * 2160)
    assert memory.MIN_HISTORY <= big < memory.MAX_HISTORY
    assert big * 2 * 3 * 4 * 3840 * 2160 <= memory.HISTORY_BUDGET


def test_full_preset_works_at_the_contents_own_size() -> None:
    params = nst.Params(quality="full")
    assert params.working_size_for(3000) == 3000
    assert params.working_size_for(200) == 200
    plan = schedule(params, 3840, 2160)
    assert plan[-1][:2] == (3840, 2160)
    # The normal preset's scales, so the same composition and stroke size, then refining
    # ones that double up to the canvas (the last step up at most 2.8x).
    normal = schedule(nst.Params(), 512, 288)
    assert plan[: len(normal)] == normal
    assert [w for w, _, _ in plan[len(normal) :]] == [1024, 2048, 3840]
    assert all(n >= 10 for _, _, n in plan)
    assert schedule(params, 400, 300) == schedule(nst.Params(), 400, 300)
    with pytest.raises(nst.ParamsError, match="tile_size"):
        nst.Params(tile_size=16)


def test_tv_in_strips_equals_autograd() -> None:
    from nst.losses import tv_sum, tv_sum_and_grad

    image = (torch.rand(1, 3, 37, 29, generator=torch.Generator().manual_seed(1)) * 255).double()
    whole = image.clone().requires_grad_(True)
    (2.5 * tv_sum(whole)).backward()
    grad = torch.zeros_like(image)
    value = tv_sum_and_grad(image, grad, 2.5, rows=5)  # strips that do not divide the height
    assert value == pytest.approx(2.5 * tv_sum(image).item(), rel=1e-9)
    assert torch.allclose(grad, whole.grad, rtol=1e-9, atol=1e-9)
