"""End to end in a real Krita: install.py, the real server, the plugin, a driver plugin.

One Krita launch (own Xvfb, throwaway home) runs the scenarios in SCENARIOS in turn; the
driver (tests/krita/pykrita/nst_e2e_driver) records what happened in report.json, dumps
layers and exports the document, and the checks below read those files. Screenshots of
the dialog, the progress window and the result go to $NST_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import krita_harness as harness  # noqa: E402
from krita_harness import scenario as run_scenario  # noqa: E402

pytestmark = pytest.mark.krita

SIZE = (96, 64)
SELECTION = (52, 18, 28, 24)  # x, y, w, h
PARAMS = {"size": 64, "iterations": 8, "scales": 1, "seed": 1}
SCREENSHOTS = {
    "dialog.png": "krita_dialog.png",
    "krita_result.png": "krita_result.png",
    "progress_dialog.png": "krita_progress.png",
}
# Krita 5.2 under Xvfb gives the view of a document made by a script no active layer, and no
# script call sets one (Document.setActiveNode before or after the view opens, the layer
# actions; 5.1 takes it): these scenarios, which each open a document of their own, run on
# 5.1 only. Everything they test is the same code on 5.2.
NEEDS_NEW_DOCUMENTS = {
    "empty_layer",
    "group_layer",
    "sixteen_bit",
    "layer_deleted",
    "document_closed",
}
SCENARIOS = [
    "server_down",
    "stylize",
    "selection",
    "ui",
    "dialog",
    "cancel",
    "texture",  # on the test image, before the scenarios that open documents of their own
    "empty_layer",  # these open documents of their own
    "group_layer",
    "sixteen_bit",
    "layer_deleted",
    "document_closed",
    "server_stops",  # last: the server is gone afterwards
]


def scenario(run: dict, name: str) -> dict:
    if run["flavour"] != "system" and name in NEEDS_NEW_DOCUMENTS:
        pytest.skip(f"Krita 5.2 headless: a script's new document has no active layer ({name})")
    return run_scenario(run, name)


def make_test_image(content: Path, path: Path) -> None:
    """The sample photo, small, with a transparent strip and a half-transparent band."""
    image = Image.open(content).convert("RGBA")
    image = image.resize(SIZE, Image.Resampling.LANCZOS)
    alpha = Image.new("L", SIZE, 255)
    draw = ImageDraw.Draw(alpha)
    draw.rectangle((0, 0, 9, SIZE[1] - 1), fill=0)
    draw.rectangle((10, 54, SIZE[0] - 1, SIZE[1] - 1), fill=128)
    image.putalpha(alpha)
    image.save(path)


@pytest.fixture(scope="module", params=harness.FLAVOURS)
def krita_run(request, tmp_path_factory, content_path, style_path):
    """One Krita run of every scenario: Debian 12's Krita 5.1 ("system"), and Krita 5.2 from
    the Debian 13 chroot ("trixie")."""
    flavour = request.param
    if harness.missing_tools(flavour) is not None:
        pytest.skip(harness.missing_tools(flavour))
    work = tmp_path_factory.mktemp(f"krita-e2e-{flavour}")
    home, out = work / "home", work / "out"
    home.mkdir()
    image = work / "subject.png"
    make_test_image(content_path, image)
    style = work / "starry_night.jpg"
    shutil.copy(style_path, style)
    photo = work / "cat.png"  # a second style for the dialog's list, inside the shared folder
    shutil.copy(content_path, photo)
    installed = harness.make_home(home)
    port, dead = harness.free_port(), harness.free_port()
    spec = {
        "out": str(out),
        "style": str(style),
        "params": PARAMS,
        "dead_server": f"http://127.0.0.1:{dead}",
        "selection": SELECTION,
        "scenarios": [
            name for name in SCENARIOS if flavour == "system" or name not in NEEDS_NEW_DOCUMENTS
        ],
        "zoom": 8.0,
        "ui_settings": {"quality": "draft", "size": 64, "strength": 70, "seed": 2},
        "dialog_styles": [str(style), str(photo)],
        # Krita's own server runs the Python install.py recorded: this machine's, which the
        # chroot's Krita cannot run (tests/test_plugin_krita_managed.py covers managed mode).
        "managed": flavour == "system",
        "screenshots": shutil.which("import") is not None,
    }
    with harness.real_server(port, work / "server.log") as (url, stop_server):
        spec["server"] = url
        process, report = harness.run_krita(
            home, image, spec, signals={"stop_server": stop_server}, flavour=flavour
        )
    if report is None or not report.get("done"):
        report_text = json.dumps(report, indent=1)[-3000:]
        pytest.fail(
            f"Krita did not finish the scenarios (exit {process.returncode}).\n"
            f"report: {report_text}\nstderr: {process.stderr[-3000:]}"
        )
    screenshots = os.environ.get("NST_SCREENSHOTS")
    if screenshots and flavour == "system":  # e.g. docs/images, to refresh the README's pictures
        Path(screenshots).mkdir(parents=True, exist_ok=True)
        for name, target in SCREENSHOTS.items():
            if (out / name).exists():
                shutil.copy(out / name, Path(screenshots) / target)
    return {
        "flavour": flavour,
        "report": report,
        "out": out,
        "home": home,
        "image": image,
        "process": process,
        "installed": installed,
        "dead": dead,
    }


def load(path):
    """An RGBA image with fully transparent pixels made (0, 0, 0, 0): their colour is moot."""
    image = Image.open(path).convert("RGBA")
    clear = image.getchannel("A").point(lambda a: 255 if a == 0 else 0)
    image.paste((0, 0, 0, 0), mask=clear)
    return image


def changed_box(a, b):
    """Bounding box of pixels that differ in any channel (None: identical images)."""
    assert a.size == b.size
    return ImageChops.difference(a, b).getbbox(alpha_only=False)


def mean_difference(a, b):
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def test_install_py_installed_and_enabled_the_plugin(krita_run):
    home, report = krita_run["home"], krita_run["report"]
    assert "Next: start Krita" in krita_run["installed"].stdout
    pykrita = home / ".local/share/krita/pykrita"
    assert (pykrita / "nst_krita" / "__init__.py").is_file()
    assert (home / ".local/share/krita/actions/nst_krita.action").is_file()
    # Krita loaded it: the Filter menu actions exist.
    assert report["plugin_actions"] == ["nst_krita_stylize", "nst_krita_repeat"]
    menu = report["filter_menu"]
    assert "nst_krita_stylize" in menu and "nst_krita_repeat" in menu, menu
    assert report["shortcut"] == "Ctrl+Alt+Shift+S"  # from nst_krita.action
    assert krita_run["process"].returncode == 0, krita_run["process"].stderr[-2000:]
    assert not report["errors"], report["errors"]


def test_server_down_gives_the_command_and_leaves_the_document(krita_run):
    result = scenario(krita_run, "server_down")
    assert result["error"]["type"] == "ServerNotRunning"
    assert f"nst serve --port {krita_run['dead']}" in result["error"]["message"]
    assert result["layers_after"] == result["layers_before"]
    assert result["source_unchanged"]
    start = load(krita_run["out"] / "start_flat.png")
    assert changed_box(start, load(result["flat"])) is None


def test_stylized_layer_is_added_above_the_source_in_one_undo_step(krita_run):
    report, result = krita_run["report"], scenario(krita_run, "stylize")
    source_bounds = report["source"]["bounds"]
    assert source_bounds == [10, 0, 86, 64]  # the transparent strip is not part of the layer
    assert result["new"] == {
        "name": "Style: starry_night",
        "type": "paintlayer",
        "bounds": source_bounds,
    }
    names = [layer["name"] for layer in result["layers"]]
    assert names == [report["source_name"], "Style: starry_night"]
    assert result["active"] == report["source_name"]
    assert result["source_unchanged"]
    assert [layer["name"] for layer in result["layers_after_undo"]] == [report["source_name"]]
    start = load(krita_run["out"] / "start_flat.png")
    # With the layer: the document shows the stylised image; after one undo, the original.
    assert changed_box(start, load(result["flat"])) == (10, 0, 96, 64)
    assert (
        mean_difference(start.crop((10, 0, 96, 50)), load(result["flat"]).crop((10, 0, 96, 50))) > 8
    )
    assert changed_box(start, load(result["flat_after_undo"])) is None
    assert result["seconds"] < 60


def test_stylized_pixels_changed_and_alpha_was_kept(krita_run):
    result = scenario(krita_run, "stylize")
    source = load(krita_run["report"]["source_dump"]["file"])
    styled = load(result["new_dump"]["file"])
    assert styled.size == source.size == (86, 64)
    assert styled.getchannel("A").tobytes() == source.getchannel("A").tobytes()
    assert set(styled.getchannel("A").tobytes()) == {128, 255}  # the half-transparent band
    mean = mean_difference(styled.crop((0, 0, 86, 50)), source.crop((0, 0, 86, 50)))
    assert mean > 8, f"the stylised layer is too close to the source (mean diff {mean:.1f})"


def test_exported_kra_has_the_layer_above_the_source(krita_run):
    result = scenario(krita_run, "stylize")
    with zipfile.ZipFile(result["kra"]) as kra:
        xml = kra.read("maindoc.xml").decode()
    source_at = xml.index('name="{}"'.format(krita_run["report"]["source_name"]))
    styled_at = xml.index('name="Style: starry_night"')
    assert styled_at < source_at  # Krita lists layers top first


def test_selection_changes_only_the_selected_part(krita_run):
    result = scenario(krita_run, "selection")
    x, y, w, h = SELECTION
    assert result["new"]["bounds"] == [x, y, w, h]
    assert result["source_unchanged"]
    start = load(krita_run["out"] / "start_flat.png")
    after = load(result["flat"])
    box = changed_box(start, after)
    assert box is not None, "nothing changed"
    assert x <= box[0] and y <= box[1] and box[2] <= x + w and box[3] <= y + h, box
    assert mean_difference(start.crop((x, y, x + w, y + h)), after.crop((x, y, x + w, y + h))) > 8
    assert [layer["name"] for layer in result["layers_after"]] == [
        krita_run["report"]["source_name"]
    ]


def test_repeat_action_shows_progress_and_inserts_the_result(krita_run):
    result = scenario(krita_run, "ui")
    assert result["started"] and result["finished"] and result["errors"] == []
    assert "progress_text" not in result or result["progress_text"].startswith(
        ("Step", "Waiting", "Starting", "Uploading")
    )
    names = [layer["name"] for layer in result["layers"]]
    assert names == [krita_run["report"]["source_name"], "Style: starry_night"]
    assert result["source_unchanged"]
    assert [layer["name"] for layer in result["layers_after_undo"]] == [
        krita_run["report"]["source_name"]
    ]


def test_settings_were_saved_in_kritarc_for_the_next_start(krita_run):
    # Written by Krita when it quit: the plugin's group in kritarc, not the pykrita folder.
    kritarc = (krita_run["home"] / ".config" / "kritarc").read_text()
    group = kritarc.split("[nst_krita]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert {"quality=draft", "seed=2", "size=64", "strength=70"} <= set(group)
    assert "enable_nst_krita=true" in kritarc


def test_dialog_lists_styles_and_reaches_the_server(krita_run):
    result = scenario(krita_run, "dialog")
    assert result["styles"] == 2 and result["checked"] == ["starry_night"]
    assert result["status"].startswith("Connected: server") and "cpu" in result["status"]
    # Managed (the default): the dialog started Krita's own server and estimated the time.
    assert result.get("managed_ready", krita_run["flavour"] != "system"), result
    assert result["estimate_shown"], result
    assert result["estimate"].endswith("painted at 256x192 px and enlarged to 4000x3000")


def test_sixteen_bit_documents_are_stylised_at_their_depth(krita_run):
    result = scenario(krita_run, "sixteen_bit")
    assert result["depth"] == ["RGBA", "U16"]
    assert result["new"] == {
        "name": "Style: starry_night",
        "bounds": [10, 0, 86, 64],
        "depth": "U16",
    }
    # Same pixels, params and seed as the 8-bit run: the same result, channels in order.
    eight_bit = load(scenario(krita_run, "stylize")["new_dump"]["file"])
    assert mean_difference(load(result["dump"]), eight_bit) < 1.0
    assert load(result["dump"]).getchannel("A").tobytes() == eight_bit.getchannel("A").tobytes()


def test_empty_layer_is_refused_with_a_message(krita_run):
    result = scenario(krita_run, "empty_layer")
    assert result["active"] == "Empty"
    assert result["error"]["type"] == "EmptyLayer"
    assert result["error"]["message"] == "The layer 'Empty' is empty: there is nothing to stylise."
    assert result["unchanged"]


def test_cancel_stops_the_server_job_and_inserts_nothing(krita_run):
    result = scenario(krita_run, "cancel")
    assert result["running"] and result["finished"]
    assert result["server_state"] == "canceled"
    assert result["errors"] == [] and result["unchanged"]


def test_group_layer_is_stylised_as_it_looks_and_the_result_goes_above_it(krita_run):
    result = scenario(krita_run, "group_layer")
    assert result["new"] == {"name": "Style: starry_night", "bounds": [10, 0, 86, 64]}
    assert result["top_level"] == ["Background", "Group", "Style: starry_night"]
    assert result["in_group"] == ["Inner"]
    # Its projection is the same pixels as the 8-bit run's layer: the same result.
    eight_bit = load(scenario(krita_run, "stylize")["new_dump"]["file"])
    assert mean_difference(load(result["dump"]), eight_bit) < 1.0


def test_server_stopping_mid_job_gives_a_clear_message_and_changes_nothing(krita_run):
    result = scenario(krita_run, "server_stops")
    assert result["running"] and result["finished"] and result["unchanged"]
    [message] = result["errors"]
    assert message.startswith("The connection to the style-transfer server at http://127.0.0.1:")
    assert "was lost" in message and "the image was not changed" in message


def test_deleting_the_source_layer_mid_job_adds_nothing_and_says_why(krita_run):
    result = scenario(krita_run, "layer_deleted")
    assert result["running"] and result["finished"] and result["unchanged"]
    assert [layer["name"] for layer in result["layers"]] == ["Background"]
    [message] = result["errors"]
    assert "was closed or deleted while the style transfer ran" in message, message


def test_closing_the_document_mid_job_adds_nothing_anywhere_and_says_why(krita_run):
    result = scenario(krita_run, "document_closed")
    assert result["running"] and result["finished"] and result["unchanged"]
    [message] = result["errors"]
    assert "was closed or deleted while the style transfer ran" in message, message


def test_texture_action_fills_the_canvas_in_a_new_layer_one_undo_step(krita_run):
    from nst.texture import seam_ratio

    result = scenario(krita_run, "texture")
    assert result["finished"] and result["errors"] == []
    names = [layer["name"] for layer in result["layers"]]
    source = krita_run["report"]["source_name"]
    assert names.index("Texture: starry_night") == names.index(source) + 1  # right above it
    texture = next(x for x in result["layers"] if x["name"] == "Texture: starry_night")
    assert texture["bounds"] == [0, 0, *SIZE]
    pattern = load(result["dump"]["file"])
    assert pattern.size == SIZE and pattern.getextrema()[3] == (255, 255)  # opaque everywhere
    assert seam_ratio(pattern) <= 1.3, seam_ratio(pattern)
    assert result["after_undo"]
