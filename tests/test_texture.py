"""Textures (tileable on request) and layer reconstructions, on tiny images."""

from __future__ import annotations

import pytest
import torch
from conftest import small
from PIL import Image

from nst import reconstruct
from nst.cli import main as cli
from nst.errors import ParamsError
from nst.losses import Objective
from nst.params import Params
from nst.score import canonical_losses
from nst.texture import seam_ratio, texture
from nst.vgg import load_vgg19

FAST = {"quality": "draft", "seed": 0}


def test_wrapped_network_sees_a_torus():
    """Rolling the input by 16 px rolls conv5_1's features by one position, exactly."""
    model = load_vgg19("caffe", "max", "cpu")
    x = torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(0)) * 255
    plain = model(x, ["conv5_1"], wrap=True)["conv5_1"]
    rolled = model(torch.roll(x, (16, 32), dims=(-2, -1)), ["conv5_1"], wrap=True)["conv5_1"]
    assert torch.allclose(torch.roll(plain, (1, 2), dims=(-2, -1)), rolled, atol=1e-3)
    zero_padded = model(torch.roll(x, 16, dims=-1), ["conv5_1"])["conv5_1"]
    assert not torch.allclose(torch.roll(plain, 1, dims=-1), zero_padded, atol=1e-3)


def test_tileable_texture_has_no_seam(style_path):
    image = texture([style_path], 64, 48, FAST, tileable=True)
    assert image.size == (64, 48) and image.mode == "RGB"
    assert seam_ratio(image) <= 1.2, seam_ratio(image)
    tiled = Image.new("RGB", (128, 96))
    for x in (0, 64):
        for y in (0, 48):
            tiled.paste(image, (x, y))
    assert seam_ratio(tiled) <= 1.2  # 2x2: the seams in the middle are no different


def test_texture_has_more_of_the_paintings_style_than_a_stylized_photo(tiny_content, style_path):
    import nst

    style = small(style_path, 64)
    # From noise a texture needs more steps than a stylisation from the photo; at 512 px the
    # preset's coarse scales give them (docs/textures.md), at 64 px there is one scale.
    pattern = texture([style], *tiny_content.size, {**FAST, "iterations": 80})
    stylized = nst.stylize(tiny_content, [style], {**FAST, "size": 64})
    _, pattern_style = canonical_losses(pattern, tiny_content, style)
    _, stylized_style = canonical_losses(stylized, tiny_content, style)
    assert pattern_style < stylized_style, (pattern_style, stylized_style)


def test_texture_refuses_bad_sizes_and_blends(style_path):
    with pytest.raises(ParamsError, match="width"):
        texture([style_path], 8, 64)
    with pytest.raises(ParamsError, match="style_blend"):
        texture([style_path], 32, 32, {"style_blend": [1, 2]})


def test_content_only_objective_runs_only_to_its_layer():
    model = load_vgg19("caffe", "max", "cpu")
    x = torch.rand(1, 3, 32, 32) * 255
    params = Params(content_layer="conv2_1", style_weight=0.0)
    objective = Objective(model, params, x, [x], [1.0])
    assert objective.layers == ["conv2_1"] and objective.layer_weights == {}
    assert objective(x).item() == pytest.approx(
        objective.tv_weight * objective.terms(x)["tv"].item() * objective.tv_scale(x)
    )


def test_content_reconstructions_lose_pixels_with_depth(content_path):
    recs = reconstruct.content_reconstructions(content_path, size=64, steps=100)
    errors = [r.error for r in recs]
    assert [r.label for r in recs] == reconstruct.CONTENT_LAYERS
    assert errors[0] < 8, "conv1_1 should give the photo back nearly exactly"
    assert errors == sorted(errors), errors


def test_cli_texture_and_reconstruct(tmp_path, style_path, content_path, capsys):
    out = tmp_path / "pattern.png"
    code = cli(
        [
            "texture",
            str(style_path),
            "-o",
            str(out),
            "--size",
            "48x32",
            "--tileable",
            "-q",
            "draft",
            "--no-progress",
        ]
    )
    assert code == 0 and Image.open(out).size == (48, 32)
    assert "tileable" in capsys.readouterr().out
    assert cli(["texture", str(style_path), "-o", str(out), "--size", "big"]) == 1
    assert "--size must be WIDTHxHEIGHT" in capsys.readouterr().err
    grid = tmp_path / "grid.png"
    code = cli(
        [
            "reconstruct",
            str(content_path),
            "-o",
            str(grid),
            "--size",
            "32",
            "--iterations",
            "5",
            "--no-progress",
        ]
    )
    assert code == 0 and Image.open(grid).width > 5 * 32
    assert "conv5_1" in capsys.readouterr().out


def test_texture_jobs_over_http(style_path, content_path, tmp_path):
    """A job with styles and a size but no content paints a texture; the client's texture()."""
    import io
    import json

    import requests

    from nst.client import Client
    from server.testing import ServerProcess

    small_style = tmp_path / "style.png"
    small(style_path, 96).save(small_style)
    with ServerProcess("--max-pixels", "20000") as server:
        pattern = Client(server.url).texture(
            [small_style], 48, 32, {"quality": "draft", "iterations": 10}, tileable=True
        )
        assert pattern.size == (48, 32) and seam_ratio(pattern) <= 1.2
        style = small_style.read_bytes()

        def post(params, **parts):
            files = [("style", ("s.jpg", style))] + [
                (name, (f"{name}.png", data)) for name, data in parts.items()
            ]
            return requests.post(
                server.api + "/jobs", files=files, data={"params": json.dumps(params)}, timeout=30
            )

        both = post({"texture": [32, 32]}, content=small_style.read_bytes())
        assert both.status_code == 400 and both.json()["error"]["field"] == "texture"
        huge = post({"texture": [400, 400]})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_many_pixels"
        bad = post({"texture": [8, 32]})
        assert bad.status_code == 400 and "texture" in bad.json()["error"]["message"]
        none = post({})
        assert none.status_code == 400 and none.json()["error"]["code"] == "missing_file"
        sync = requests.post(
            server.api + "/stylize",
            files=[("style", ("s.jpg", style))],
            data={"params": json.dumps({"texture": [40, 24], "quality": "draft", "iterations": 5})},
            timeout=60,
        )
        assert sync.status_code == 200
        assert Image.open(io.BytesIO(sync.content)).size == (40, 24)
