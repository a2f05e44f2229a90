"""A stand-in for GIMP's GObject modules, enough to run plugin_gimp/nst_gimp/nst_gimp.py's
glue outside GIMP and record what it asks of GIMP (undo groups, layer insertion, progress).
The real GIMP runs in tests/test_plugin_gimp_e2e.py."""

from __future__ import annotations

import io
import sys
import types

CALLS: list[tuple] = []


class _Anything:
    """Enum-like namespaces: any attribute is its own name."""

    def __getattr__(self, name):
        return name


class Rect:
    def __init__(self, x, y, w, h):
        self.x, self.y, self.width, self.height = x, y, w, h

    @classmethod
    def new(cls, x, y, w, h):
        return cls(x, y, w, h)


class Buffer:
    def __init__(self, image):
        self.image = image  # a PIL image in the drawable's coordinates

    def get(self, rect, scale, fmt, abyss):
        mode = "RGBA" if fmt.startswith("R'G'B'A") else "L"
        box = (rect.x, rect.y, rect.x + rect.width, rect.y + rect.height)
        return self.image.convert(mode).crop(box).tobytes()


class Layer:
    def __init__(self, name, pil, offsets=(0, 0), parent=None):
        self.name, self.pil, self.offsets, self.parent = name, pil, offsets, parent

    def is_layer(self):
        return True

    def get_name(self):
        return self.name

    def set_name(self, name):
        self.name = name

    def get_width(self):
        return self.pil.width

    def get_height(self):
        return self.pil.height

    def get_offsets(self):
        return (True, *self.offsets)

    def set_offsets(self, x, y):
        self.offsets = (x, y)

    def get_parent(self):
        return self.parent

    def get_buffer(self):
        return Buffer(self.pil)

    def mask_intersect(self):
        return (True, 0, 0, self.pil.width, self.pil.height)


class Image:
    def __init__(self, layers):
        self.layers = list(layers)

    def get_layers(self):
        return list(self.layers)

    def get_item_position(self, layer):
        return self.layers.index(layer)

    def insert_layer(self, layer, parent, position):
        CALLS.append(("insert_layer", layer.name, position))
        self.layers.insert(position, layer)

    def undo_group_start(self):
        CALLS.append(("undo_group_start",))

    def undo_group_end(self):
        CALLS.append(("undo_group_end",))


class _Gimp(types.ModuleType):
    RunMode = PDBStatusType = PDBProcType = FileChooserAction = _Anything()
    ProcedureSensitivityMask = _Anything()

    class PlugIn:
        __gtype__ = "gtype"

    class Selection:
        @staticmethod
        def is_empty(image):
            return True

    @staticmethod
    def main(gtype, argv):
        CALLS.append(("main",))

    @staticmethod
    def file_load_layer(run_mode, image, file):
        from PIL import Image as PILImage

        with open(file.path, "rb") as handle:
            pil = PILImage.open(io.BytesIO(handle.read())).convert("RGBA")
        return Layer("loaded", pil)

    @staticmethod
    def directory():
        return "/nonexistent"

    @staticmethod
    def displays_flush():
        pass

    @staticmethod
    def progress_init(text):
        CALLS.append(("progress_init", text))

    @staticmethod
    def progress_set_text(text):
        CALLS.append(("progress_text", text))

    @staticmethod
    def progress_update(fraction):
        CALLS.append(("progress_update", fraction))
        return True

    @staticmethod
    def progress_end():
        CALLS.append(("progress_end",))


class _File:
    def __init__(self, path):
        self.path = path

    def get_path(self):
        return self.path

    @classmethod
    def new_for_path(cls, path):
        return cls(path)


def install() -> None:
    """Put the fake `gi` into sys.modules (before nst_gimp.py is imported)."""
    gi = types.ModuleType("gi")
    gi.require_version = lambda name, version: None
    repository = types.ModuleType("gi.repository")
    repository.Gimp = _Gimp("Gimp")
    repository.Gegl = types.SimpleNamespace(Rectangle=Rect, AbyssPolicy=_Anything())
    repository.Gio = types.SimpleNamespace(File=_File)
    repository.GLib = types.SimpleNamespace(Error=Exception)
    repository.GObject = types.SimpleNamespace(ParamFlags=_Anything())
    repository.GimpUi = types.SimpleNamespace()
    gi.repository = repository
    sys.modules["gi"] = gi
    sys.modules["gi.repository"] = repository


class Config:
    """A procedure config: get_property over a dict."""

    def __init__(self, **values):
        self.values = {"style": None, "styles": "", "quality": "draft", "strength": 1.0}
        self.values.update({"seed": 0, "server": "", "token": ""}, **values)

    def get_property(self, name):
        return self.values[name]
