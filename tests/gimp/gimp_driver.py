"""Runs inside GIMP 3 (python-fu-eval batch): the plug-in's end-to-end scenarios.

Reads its instructions from the JSON file named by $NST_GIMP_SPEC, runs each scenario on a
fresh copy of the test image, and writes report.json and layer dumps (PNG, via the
plug-in's own writer) into the spec's "out" folder. An exception is recorded, not fatal.
"""

import hashlib
import json
import os
import sys
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

SPEC = json.load(open(os.environ["NST_GIMP_SPEC"]))
OUT = SPEC["out"]
sys.path.insert(0, SPEC["plugin_dir"])
from nstgimp import png  # noqa: E402

REPORT = {"scenarios": {}}


def pixels(drawable):
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return bytes(drawable.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE))


def dump(drawable, name):
    path = os.path.join(OUT, name + ".png")
    with open(path, "wb") as handle:
        handle.write(png.encode(drawable.get_width(), drawable.get_height(), 4, pixels(drawable)))
    return path


def describe(image):
    return [
        {
            "name": layer.get_name(),
            "offsets": list(layer.get_offsets()[1:]),
            "size": [layer.get_width(), layer.get_height()],
            "sha1": hashlib.sha1(pixels(layer)).hexdigest(),
        }
        for layer in image.get_layers()
    ]


def open_test_image():
    """The test image with its layer moved off the origin (canvas grown by 10, 6)."""
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(SPEC["image"]))
    image.resize(image.get_width() + 20, image.get_height() + 12, 10, 6)
    return image, image.get_layers()[0]


def run_plugin(image, layer, procedure="python-fu-nst-stylize", **settings):
    proc = Gimp.get_pdb().lookup_procedure(procedure)
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    config.set_property("styles", "\n".join(SPEC["styles"]))
    config.set_property("quality", "draft")
    config.set_property("server", SPEC["server"])
    config.set_property("seed", 1)
    config.set_property("token", SPEC.get("token", ""))
    for key, value in settings.items():
        config.set_property(key, value)
    result = proc.run(config)
    status = result.index(0)
    out = {"status": status.value_nick}
    if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1:
        out["error"] = result.index(1)
    return out


def scenario_stylize():
    image, layer = open_test_image()
    before = describe(image)
    out = run_plugin(image, layer)
    out.update(before=before, after=describe(image), source_dump=dump(layer, "source"))
    if len(image.get_layers()) > 1:
        out["new_dump"] = dump(image.get_layers()[0], "stylized")
    return out


def scenario_selection():
    image, layer = open_test_image()
    x, y, w, h = SPEC["selection"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
    out = run_plugin(image, layer)
    out.update(after=describe(image), source_dump=dump(layer, "selection_source"))
    if len(image.get_layers()) > 1:
        out["new_dump"] = dump(image.get_layers()[0], "selection_stylized")
    return out


def scenario_server_down():
    image, layer = open_test_image()
    before = describe(image)
    out = run_plugin(image, layer, server=SPEC["dead_server"])
    out.update(before=before, after=describe(image))
    return out


def scenario_bad_token():
    image, layer = open_test_image()
    before = describe(image)
    out = run_plugin(image, layer, server=SPEC["token_server"], token="wrong")
    out.update(before=before, after=describe(image))
    return out


def scenario_texture():
    image, layer = open_test_image()
    before = describe(image)
    out = run_plugin(image, layer, procedure="python-fu-nst-texture", tileable=True)
    out.update(before=before, after=describe(image))
    if len(image.get_layers()) > 1:
        out["new_dump"] = dump(image.get_layers()[0], "texture")
    return out


SCENARIOS = {
    "texture": scenario_texture,
    "stylize": scenario_stylize,
    "selection": scenario_selection,
    "server_down": scenario_server_down,
    "bad_token": scenario_bad_token,
}

for name in SPEC["scenarios"]:
    try:
        REPORT["scenarios"][name] = SCENARIOS[name]()
    except Exception:  # noqa: BLE001 - recorded for the test to report
        REPORT["scenarios"][name] = {"exception": traceback.format_exc()}
    with open(os.path.join(OUT, "report.json"), "w") as handle:
        json.dump(REPORT, handle, indent=1, default=str)
