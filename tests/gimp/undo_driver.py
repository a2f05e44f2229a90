"""Runs inside GIMP 3's GUI (under Xvfb): the plug-in's result is removed by one Ctrl+Z.

GIMP 3 gives plug-ins and batch scripts no undo call, so the keystroke goes to GIMP's window
as a painter's would (xdotool); the layers are counted before, after the run, and after one
and two undos.
"""

import json
import os
import subprocess
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

SPEC = json.load(open(os.environ["NST_GIMP_SPEC"]))
OUT = SPEC["out"]
report = {}


def names(image):
    return [layer.get_name() for layer in image.get_layers()]


def press(keys):
    window = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--class", "gimp"],
        capture_output=True,
        text=True,
    ).stdout.split()
    report.setdefault("windows", window)
    if window:
        subprocess.run(["xdotool", "windowactivate", "--sync", window[-1]], check=False)
        subprocess.run(["xdotool", "windowfocus", "--sync", window[-1]], check=False)
    subprocess.run(["xdotool", "key", "--clearmodifiers", keys], check=False)
    time.sleep(2)


try:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(SPEC["image"]))
    Gimp.Display.new(image)
    Gimp.displays_flush()
    time.sleep(4)
    report["before"] = names(image)
    proc = Gimp.get_pdb().lookup_procedure("python-fu-nst-stylize")
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [image.get_layers()[0]])
    config.set_property("styles", "\n".join(SPEC["styles"]))
    config.set_property("quality", "draft")
    config.set_property("server", SPEC["server"])
    report["status"] = proc.run(config).index(0).value_nick
    Gimp.displays_flush()
    time.sleep(2)
    report["after_run"] = names(image)
    press("ctrl+z")
    report["after_one_undo"] = names(image)
except Exception as exc:  # noqa: BLE001
    report["exception"] = repr(exc)
with open(os.path.join(OUT, "report.json"), "w") as handle:
    json.dump({"scenarios": {"undo": report}}, handle)
