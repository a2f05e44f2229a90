"""Runs inside GIMP 3's GUI (under Xvfb): the pictures for docs/gimp.md.

1. a result: the test image in a window, stylised by the plug-in (non-interactively);
2. the dialog: the plug-in run interactively; a timer takes the picture, then ends the
   dialog's process (nothing is run).
"""

import json
import os
import subprocess
import threading
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

SPEC = json.load(open(os.environ["NST_GIMP_SPEC"]))
OUT = SPEC["out"]


def shot(name):
    subprocess.run(["import", "-window", "root", os.path.join(OUT, name)], check=False)


image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(SPEC["image"]))
layer = image.get_layers()[0]
Gimp.Display.new(image)
Gimp.displays_flush()
time.sleep(4)
proc = Gimp.get_pdb().lookup_procedure("python-fu-nst-stylize")
config = proc.create_config()
config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
config.set_property("image", image)
config.set_core_object_array("drawables", [layer])
config.set_property("styles", "\n".join(SPEC["styles"]))
config.set_property("quality", SPEC.get("quality", "draft"))
config.set_property("server", SPEC["server"])
result = proc.run(config)
Gimp.displays_flush()
time.sleep(4)
shot("gimp_result.png")


def dialog_shot():
    time.sleep(10)
    shot("gimp_dialog.png")
    subprocess.run(["pkill", "-f", "nst_gimp.py"], check=False)


threading.Thread(target=dialog_shot, daemon=True).start()
image.set_selected_layers([layer])
config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
proc.run(config)
with open(os.path.join(OUT, "report.json"), "w") as handle:
    json.dump({"scenarios": {"screens": {"status": result.index(0).value_nick}}}, handle)
