"""nst/balance.py: the fast presets' style gain per pair, with the real weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small
from PIL import Image

from nst import balance, images
from nst.engine import scale_inputs
from nst.estimate import Scale
from nst.losses import Objective
from nst.params import Params
from nst.score import canonical_losses
from nst.vgg import load_vgg19

CPU = torch.device("cpu")


def gain_for(model, params: Params, photo: Image.Image, painting: Image.Image) -> float:
    """pair_gain with the images as a run at the photo's own size sees them."""
    at = Scale(*balance.measure_size(photo.size, max(photo.size)), 0, None)
    content, styles = scale_inputs(photo, [painting], at, params, CPU)
    return balance.pair_gain(model, params, content, styles, [1.0], torch.float32)


def stripes(size: int) -> Image.Image:
    """Black and white diagonal stripes: far from any photo, the largest Gram matrices."""
    y, x = np.mgrid[:size, :size]
    return Image.fromarray(np.where((x + y) // 4 % 2, 255, 0).astype(np.uint8)).convert("RGB")


def start_style_term(photo: Image.Image, painting: Image.Image) -> float:
    """The reference's style term at the fast presets' start (the photo in the painting's
    palette), by nst/score.py's own code."""
    p, s = images.to_tensor(photo), images.to_tensor(painting)
    start = images.to_image(images.match_colors(p, s))
    return canonical_losses(start, photo, painting)[1]


@pytest.mark.parametrize("which", ["own", "painting", "stripes"])
def test_the_gain_caps_the_style_term_at_the_start(content_path, style_path, which) -> None:
    photo = small(content_path, 96)
    painting = {"own": photo, "painting": small(style_path, 96), "stripes": stripes(96)}[which]
    model = load_vgg19("caffe", "max", CPU)
    gain = gain_for(model, Params(), photo, painting)

    term = start_style_term(photo, painting)
    expected = min(balance.FAST_STYLE_GAIN, balance.START_STYLE_CAP / max(term, 1e-30))
    assert gain == pytest.approx(max(balance.MIN_STYLE_GAIN, expected), rel=0.02)
    if which == "own":  # nothing to repaint: the full gain
        assert gain == balance.FAST_STYLE_GAIN
    if which == "stripes":  # as far from a photo as a painting gets: less push
        assert gain < balance.FAST_STYLE_GAIN


def test_the_gain_does_not_depend_on_strength_or_the_reference(content_path) -> None:
    photo = small(content_path, 64)
    model = load_vgg19("caffe", "max", CPU)

    def gain(**params) -> float:
        return gain_for(model, Params(**params), photo, stripes(64))

    assert gain(style_weight=3.0) == pytest.approx(gain(style_weight=0.5))
    assert balance.style_gains(Params(quality="reference")) == {}
    fast = balance.style_gains(Params(), 0.2)
    assert fast["conv4_1"] == 0.2
    assert fast["conv1_1"] == 0.2 * balance.FAST_TEXTURE_GAIN
    last = balance.style_gains(Params(), 0.2, final=True)
    # The last scale weights conv4_1 twice as much, relative to the others, as before it.
    assert last["conv4_1"] / last["conv3_1"] == pytest.approx(2 * fast["conv4_1"] / fast["conv3_1"])
    assert last["conv1_1"] < fast["conv1_1"]


def test_conv5_1_is_left_out_unless_the_user_weights_the_layers(content_path, style_path) -> None:
    model = load_vgg19("caffe", "max", CPU)
    photo, painting = small(content_path, 64), small(style_path, 64)
    content, style = images.to_tensor(photo), images.to_tensor(painting)

    def layers(**params) -> list[str]:
        p = Params(**params)
        objective = Objective(model, p, content, [style], [1.0], style_gains=balance.style_gains(p))
        return objective.layers

    # The fast presets stop at conv4_2 (the content layer); the reference and a user's own
    # layer weights or layers keep conv5_1.
    assert layers() == sorted(["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2"])
    assert "conv5_1" in layers(quality="reference")
    assert "conv5_1" in layers(style_layer_weights=[1, 1, 1, 1, 2])
    assert layers(style_layers=["conv5_1"]) == ["conv4_2", "conv5_1"]


def test_style_errors_are_the_style_terms_tiled_or_not(content_path, style_path) -> None:
    from nst.tiles import TiledObjective

    model = load_vgg19("caffe", "max", CPU)
    photo, painting = small(content_path, 96), small(style_path, 96)
    content, style = images.to_tensor(photo), images.to_tensor(painting)
    image = images.match_colors(content, style)
    params = Params()
    gains = balance.style_gains(params)
    whole = Objective(model, params, content, [style], [1.0], style_gains=gains)
    tiled = TiledObjective(model, params, content, [style], [1.0], style_gains=gains, core=48)
    assert len(tiled.tiles(image)) > 1

    errors = whole.style_errors(image)
    with torch.no_grad():
        terms = whole.terms(image)
    assert set(errors) == {"conv1_1", "conv2_1", "conv3_1", "conv4_1"}
    for name, error in errors.items():
        assert error == pytest.approx(terms[name].item(), rel=1e-4)
        assert tiled.style_errors(image)[name] == pytest.approx(error, rel=1e-3)


def test_the_last_scale_pushes_conv4_1_harder_where_the_textures_are_matched() -> None:
    pivot = balance.SHARE_PIVOT
    texture = {"conv1_1": 1.0, "conv2_1": 2.0, "conv3_1": 3.0}  # sums to 6
    usual = balance.deep_boost(Params(), {**texture, "conv4_1": 6.0 * pivot})
    behind = balance.deep_boost(Params(), {**texture, "conv4_1": 6.0 * pivot * 1.2})
    far_behind = balance.deep_boost(Params(), {**texture, "conv4_1": 6.0 * pivot * 10})
    ahead = balance.deep_boost(Params(), {**texture, "conv4_1": 6.0 * pivot / 2})
    assert usual == ahead == 1.0
    assert 1.0 < behind < far_behind == balance.MAX_DEEP_BOOST
    # The user's own layer weights and the reference are left as they are.
    lagging = {**texture, "conv4_1": 6.0 * pivot * 10}
    assert balance.deep_boost(Params(style_layer_weights=[1, 1, 1, 1, 1]), lagging) == 1.0
    assert balance.deep_boost(Params(quality="reference"), lagging) == 1.0

    plain = balance.style_gains(Params(), 0.2, final=True)
    boosted = balance.style_gains(Params(), 0.2, final=True, boost=behind)
    assert boosted["conv4_1"] == pytest.approx(plain["conv4_1"] * behind)
    assert {n: g for n, g in boosted.items() if n != "conv4_1"} == {
        n: g for n, g in plain.items() if n != "conv4_1"
    }


def test_a_run_boosts_its_last_scale_by_the_scale_below(content_path, style_path, monkeypatch):
    import nst
    from nst import engine

    calls: list[dict] = []
    measured: list[float] = []
    real_gains, real_boost = balance.style_gains, balance.deep_boost

    def style_gains(params, gain=balance.FAST_STYLE_GAIN, final=False, boost=1.0):
        calls.append({"final": final, "boost": boost})
        return real_gains(params, gain, final, boost)

    def deep_boost(params, errors):
        measured.append(real_boost(params, errors))
        return measured[-1]

    monkeypatch.setattr(engine.balance, "style_gains", style_gains)
    monkeypatch.setattr(engine.balance, "deep_boost", deep_boost)
    params = {"size": 256, "iterations": 2, "scales": 2, "seed": 0}  # 128 px, then 256
    nst.stylize(small(content_path, 256), small(style_path, 256), params)
    # Measured once, after the scale below the last; only the last scale gets it. (The
    # calls before the scales' own two are the memory plan's.)
    assert len(measured) == 1
    assert [c["final"] for c in calls[-2:]] == [False, True]
    assert [c["boost"] for c in calls[-2:]] == [1.0, measured[0]]

    # The user's own layer weights cannot be boosted: no measure is taken at all.
    measured.clear()
    weighted = {**params, "style_layer_weights": [1, 1, 1, 1, 1]}
    nst.stylize(small(content_path, 256), small(style_path, 256), weighted)
    assert measured == []
    assert balance.boosts(Params()) and not balance.boosts(Params(**weighted))
