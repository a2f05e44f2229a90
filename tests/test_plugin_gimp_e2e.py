"""The GIMP 3 plug-in end to end: a real GIMP 3.0 (Debian 13's, in a chroot), headless, runs
`python-fu-nst-stylize` non-interactively against a real server with the real weights."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))
import gimp_harness as harness  # noqa: E402

from server.testing import ServerProcess, free_port  # noqa: E402

pytestmark = pytest.mark.skipif(harness.missing() is not None, reason=str(harness.missing()))

TOKEN = "gimp-e2e-token"
OFFSET = (10, 6)  # the driver grows the canvas so that the layer sits here
SELECTION = (40, 20, 24, 16)  # x, y, w, h in the image


@pytest.fixture(scope="module")
def gimp_run(tmp_path_factory, content_path, style_path):
    folder = tmp_path_factory.mktemp("gimp-inputs")
    content = Image.open(content_path).convert("RGBA").resize((64, 42))
    content.putalpha(Image.linear_gradient("L").resize(content.size))  # every alpha matters
    content.save(folder / "content.png")
    Image.open(style_path).convert("RGB").resize((64, 50)).save(folder / "style.png")
    with ServerProcess("--token", TOKEN) as server:
        spec = {
            "image": str(folder / "content.png"),
            "styles": [str(folder / "style.png")],
            "files": [str(folder / "content.png"), str(folder / "style.png")],
            "server": server.url,
            "token": TOKEN,
            "token_server": server.url,
            "dead_server": f"http://127.0.0.1:{free_port()}",
            "selection": SELECTION,
            "scenarios": ["stylize", "selection", "server_down", "bad_token", "texture"],
        }
        report, output, work = harness.run_gimp(
            Path(__file__).resolve().parent / "gimp" / "gimp_driver.py", spec
        )
    assert report.get("scenarios"), f"GIMP ran no scenario:\n{output[-3000:]}"
    yield {"report": report, "output": output, "work": work}


def scenario(run, name):
    result = run["report"]["scenarios"][name]
    assert "exception" not in result, result["exception"]
    return result


def load(path: str) -> Image.Image:
    return Image.open(io.BytesIO(harness.host_path(path).read_bytes())).convert("RGBA")


def test_result_layer_goes_above_the_source_with_its_size_and_offsets(gimp_run):
    result = scenario(gimp_run, "stylize")
    assert result["status"] == "success", result
    new, source = result["after"]
    assert new["name"] == "Style: style"
    assert new["offsets"] == list(OFFSET) and new["size"] == [64, 42]
    assert source == result["before"][0], "the source layer was changed"


def test_result_pixels_changed_and_alpha_kept(gimp_run):
    result = scenario(gimp_run, "stylize")
    source, new = load(result["source_dump"]), load(result["new_dump"])
    rgb = ImageStat.Stat(ImageChops.difference(source.convert("RGB"), new.convert("RGB"))).mean
    assert sum(rgb) / 3 > 8, f"the result is too close to the source: {rgb}"
    alpha = ImageChops.difference(source.getchannel("A"), new.getchannel("A"))
    assert alpha.getextrema()[1] <= 1, "the alpha channel was not kept"


def test_selection_limits_the_change(gimp_run):
    result = scenario(gimp_run, "selection")
    assert result["status"] == "success", result
    new, source = result["after"]
    # The selection with a 16 px context margin, within the layer: x 14..64, y 0..42 of it.
    assert new["offsets"] == [OFFSET[0] + 14, OFFSET[1]] and new["size"] == [50, 42]
    whole, part = load(result["source_dump"]), load(result["new_dump"])
    under = whole.crop((14, 0, 64, 42))
    diff = ImageChops.difference(under.convert("RGB"), part.convert("RGB")).convert("L")
    x, y, w, h = SELECTION
    inside = (x - OFFSET[0] - 14, y - OFFSET[1], x - OFFSET[0] - 14 + w, y - OFFSET[1] + h)
    assert ImageStat.Stat(diff.crop(inside)).mean[0] > 8, "the selection was not stylised"
    outside = diff.copy()
    outside.paste(0, inside)
    assert outside.getextrema()[1] <= 1, "pixels outside the selection changed"


def test_stopped_server_gives_a_clear_error_and_changes_nothing(gimp_run):
    result = scenario(gimp_run, "server_down")
    assert result["status"] == "execution-error"
    assert "Could not reach the style-transfer server" in result["error"]
    assert "nst serve" in result["error"]
    assert result["after"] == result["before"]


def test_wrong_token_is_refused_with_a_hint_and_changes_nothing(gimp_run):
    result = scenario(gimp_run, "bad_token")
    assert result["status"] == "execution-error"
    assert "Token" in result["error"], result["error"]
    assert result["after"] == result["before"]


def test_texture_procedure_fills_the_canvas_above_the_layer_and_tiles(gimp_run):
    from nst.texture import seam_ratio

    result = scenario(gimp_run, "texture")
    assert result["status"] == "success", result
    new, source = result["after"]
    assert new["name"] == "Texture: style"
    assert new["offsets"] == [0, 0] and new["size"] == [64 + 20, 42 + 12]  # the canvas
    assert source == result["before"][0]
    pattern = load(result["new_dump"])
    assert pattern.getextrema()[3] == (255, 255)
    assert seam_ratio(pattern) <= 1.3, seam_ratio(pattern)


def test_one_undo_in_gimp_removes_the_result(tmp_path, content_path, style_path):
    """GIMP 3 has no undo call for plug-ins or scripts: its GUI runs under Xvfb and gets
    Ctrl+Z as a painter would press it (xdotool), once, after the plug-in ran."""
    Image.open(content_path).convert("RGBA").resize((64, 42)).save(tmp_path / "content.png")
    Image.open(style_path).convert("RGB").resize((64, 50)).save(tmp_path / "style.png")
    with ServerProcess() as server:
        spec = {
            "image": str(tmp_path / "content.png"),
            "styles": [str(tmp_path / "style.png")],
            "files": [str(tmp_path / "content.png"), str(tmp_path / "style.png")],
            "server": server.url,
        }
        driver = Path(__file__).resolve().parent / "gimp" / "undo_driver.py"
        report, output, _ = harness.run_gimp(driver, spec, timeout=200, gui=True)
    assert report.get("scenarios"), output[-3000:]
    result = report["scenarios"]["undo"]
    assert "exception" not in result, result
    assert result["status"] == "success"
    assert result["after_run"] == ["Style: style", "Background"]
    assert result["after_one_undo"] == ["Background"]
