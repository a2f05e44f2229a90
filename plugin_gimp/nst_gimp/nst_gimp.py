#!/usr/bin/env python3
"""Neural Style Transfer for GIMP 3: Filters > Artistic > Neural Style Transfer...

Sends the selected layer (or the selection with some context around it, the selection as
mask) and one or more paintings to the style-transfer server, shows its progress in GIMP's
progress bar, and adds the result as a new layer above the source in one undo step. The
procedure `python-fu-nst-stylize` also runs non-interactively, for scripts and batch use.
Standard library and GIMP's GObject API only; the logic lives in nstgimp/.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, Gio, GLib, GObject  # noqa: E402
from nstgimp import managed, png, region  # noqa: E402
from nstgimp.client import ServerClient, run_job  # noqa: E402
from nstgimp.errors import BadInput, Canceled, NSTError  # noqa: E402
from nstgimp.region import Rect  # noqa: E402

PROCEDURE = "python-fu-nst-stylize"
TEXTURE_PROCEDURE = "python-fu-nst-texture"
QUALITIES = (
    ("draft", "Draft (fast, 256 px)"),
    ("normal", "Normal (512 px)"),
    ("high", "High (1024 px)"),
    ("full", "Full (the layer's own size)"),
)
HERE = os.path.dirname(os.path.abspath(__file__))


# -- settings ---------------------------------------------------------------------------------
def style_paths(config):
    """Every style image asked for: the chosen file, then the `styles` lines."""
    paths = []
    chosen = config.get_property("style")
    if chosen is not None and chosen.get_path():
        paths.append(chosen.get_path())
    paths += [line.strip() for line in (config.get_property("styles") or "").splitlines()]
    paths = [p for p in paths if p]
    if not paths:
        raise BadInput(
            "No style image: choose a painting as Style image, or list image files in Styles "
            "(one path per line)."
        )
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise BadInput("Style image not found: %s" % ", ".join(missing))
    return paths


def connect(config):
    """The client for the configured server: a URL, or the plug-in's own server."""
    url = (config.get_property("server") or "").strip()
    token = config.get_property("token") or ""
    python = managed.recorded_python(HERE)
    if url or not python:  # a server of the user's, or the default address
        return ServerClient(url, token)
    url, token = managed.server(Gimp.directory(), python, os.getppid())
    return ServerClient(url, token)


# -- pixels -----------------------------------------------------------------------------------
def source_region(image, drawable):
    """(rect in the layer's coordinates, mask bytes or None) of what is to be stylised."""
    layer = Rect(0, 0, drawable.get_width(), drawable.get_height())
    if Gimp.Selection.is_empty(image):
        return layer, None
    found, x, y, w, h = drawable.mask_intersect()
    if not found or w <= 0 or h <= 0:
        raise BadInput(
            "The selection does not touch the layer '%s'. Select part of it, or select "
            "none (Select > None) to stylise all of it." % drawable.get_name()
        )
    rect = region.with_context(Rect(x, y, w, h), layer)
    ok, ox, oy = drawable.get_offsets()
    mask = read(image.get_selection(), Rect(ox + rect.x, oy + rect.y, rect.width, rect.height), 1)
    if region.mask_is_empty(mask):
        raise BadInput("The selection is empty where the layer has pixels.")
    return rect, mask


def read(drawable, rect, channels=4):
    """Pixels of `rect` (the drawable's coordinates) as 8-bit RGBA (4) or grey (1) bytes."""
    fmt = "R'G'B'A u8" if channels == 4 else "Y u8"
    gegl_rect = Gegl.Rectangle.new(rect.x, rect.y, rect.width, rect.height)
    data = drawable.get_buffer().get(gegl_rect, 1.0, fmt, Gegl.AbyssPolicy.NONE)
    return bytes(data)


def add_result(image, drawable, rect, png_bytes, name):
    """The result as a new layer just above the source, in one undo step; returns it."""
    ok, ox, oy = drawable.get_offsets()
    parent, position = drawable.get_parent(), image.get_item_position(drawable)
    return _insert_layer(image, png_bytes, name, ox + rect.x, oy + rect.y, parent, position)


def add_texture(image, above, rect, png_bytes, name, shaped):
    """The texture as a new layer above `above` (or on top), shaped by the selection."""
    parent = above.get_parent() if above is not None else None
    position = image.get_item_position(above) if above is not None else 0
    return _insert_layer(image, png_bytes, name, rect.x, rect.y, parent, position, shaped)


def _insert_layer(image, png_bytes, name, x, y, parent, position, shaped=False):
    """The PNG as a new layer at (x, y), inserted at `position` in `parent`, in one undo
    step; `shaped`: cut to the selection (a layer mask from it, applied)."""
    handle, path = tempfile.mkstemp(suffix=".png", prefix="nst-gimp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(png_bytes)
        image.undo_group_start()
        try:
            layer = Gimp.file_load_layer(
                Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path)
            )
            layer.set_name(name)
            layer.set_offsets(x, y)
            image.insert_layer(layer, parent, position)
            if shaped:
                if not layer.has_alpha():
                    layer.add_alpha()
                layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
                layer.remove_mask(Gimp.MaskApplyMode.APPLY)
        finally:
            image.undo_group_end()
    finally:
        os.remove(path)
    Gimp.displays_flush()
    return layer


# -- the run ----------------------------------------------------------------------------------
def stylize(image, drawables, config):
    if len(drawables) != 1 or not drawables[0].is_layer():
        raise BadInput("Select one layer to stylise (not a mask or channel, not several).")
    drawable = drawables[0]
    styles = style_paths(config)
    rect, mask = source_region(image, drawable)
    params = {
        "quality": config.get_property("quality"),
        "style_weight": config.get_property("strength"),
        "seed": config.get_property("seed"),
    }
    content = png.encode(rect.width, rect.height, 4, read(drawable, rect))
    mask_png = png.encode(rect.width, rect.height, 1, mask) if mask is not None else b""
    result = _run_on_server(config, "Neural style", styles, params, content, mask_png)
    name = "Style: " + os.path.splitext(os.path.basename(styles[0]))[0]
    return add_result(image, drawable, rect, result, name)


def paint_texture(image, drawables, config):
    """A new layer of the canvas's (or the selection's box) size with the texture, above the
    selected layer; a selection also shapes it (a layer mask, applied)."""
    styles = style_paths(config)
    bounds = Gimp.Selection.bounds(image)  # (success?, non-empty, x1, y1, x2, y2)
    x1, y1, x2, y2 = bounds[-4:]
    has_selection = bool(bounds[-5]) and not Gimp.Selection.is_empty(image)
    if has_selection:
        rect = Rect(x1, y1, x2 - x1, y2 - y1)
    else:
        rect = Rect(0, 0, image.get_width(), image.get_height())
    if rect.width < 16 or rect.height < 16:
        raise BadInput("The area is %dx%d px: a texture needs at least 16x16." % rect[2:])
    params = {
        "texture": [rect.width, rect.height],
        "tileable": bool(config.get_property("tileable")),
        "quality": config.get_property("quality"),
        "seed": config.get_property("seed"),
    }
    if params["quality"] == "full":
        params["quality"] = "normal"  # a texture is painted at its own size anyway
    result = _run_on_server(config, "Neural texture", styles, params)
    above = drawables[0] if len(drawables) == 1 and drawables[0].is_layer() else None
    name = "Texture: " + os.path.splitext(os.path.basename(styles[0]))[0]
    return add_texture(image, above, rect, result, name, has_selection)


def _run_on_server(config, label, styles, params, content=None, mask_png=b""):
    """Send a job (content None: a texture) and follow it in GIMP's progress bar; returns
    the result PNG."""
    style_files = []
    for path in styles:
        with open(path, "rb") as handle:
            style_files.append((os.path.basename(path), handle.read()))
    Gimp.progress_init(label + ": connecting to the server")
    client = connect(config)
    job = client.submit(content, style_files, params, mask_png)
    watchdog = _watch(client, job["id"])
    try:
        return run_job(client, job["id"], _progress)
    finally:
        if watchdog is not None:
            watchdog.terminate()
        Gimp.progress_end()


def _progress(fraction, text):
    Gimp.progress_set_text(text)
    return Gimp.progress_update(fraction) is not False


def _watch(client, job_id):
    """A small process that cancels the job if GIMP stops this plug-in (Stop in the status bar)."""
    env = dict(os.environ, NST_TOKEN=client.token)
    script = os.path.join(HERE, "nstgimp", "watchdog.py")
    try:
        return subprocess.Popen(
            [sys.executable, script, str(os.getpid()), client.url, job_id],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None  # without it a canceled job just runs to its end on the server


def run(procedure, run_mode, image, drawables, config, data):
    return _run(stylize, procedure, run_mode, image, drawables, config)


def run_texture(procedure, run_mode, image, drawables, config, data):
    return _run(paint_texture, procedure, run_mode, image, drawables, config)


def _run(work, procedure, run_mode, image, drawables, config):
    if run_mode == Gimp.RunMode.INTERACTIVE:
        GimpUi.init("nst_gimp")
        dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config)
        dialog.fill(None)
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        work(image, drawables, config)
    except Canceled:
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except Exception as error:  # noqa: BLE001 - shown to the user rather than a bare failure
        if not isinstance(error, NSTError):
            error = NSTError("The plug-in failed: %s: %s" % (type(error).__name__, error))
        return procedure.new_return_values(
            Gimp.PDBStatusType.EXECUTION_ERROR,
            GLib.Error.new_literal(GLib.quark_from_string("nst-gimp"), str(error), 0),
        )
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class NeuralStyle(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROCEDURE, TEXTURE_PROCEDURE]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        Gegl.init(None)
        if name == TEXTURE_PROCEDURE:
            return self._texture_procedure(name)
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Neural Style _Transfer...")
        procedure.add_menu_path("<Image>/Filters/Artistic")
        procedure.set_documentation(
            "Repaint the layer in the style of a painting (neural style transfer)",
            "Sends the selected layer (or the selection, with some context) and one or more "
            "style images to the style-transfer server and adds the result as a new layer "
            "above it. Server empty: the plug-in's own server (installed with install.py), or "
            "http://127.0.0.1:8765. Styles: image paths, one per line.",
            name,
        )
        procedure.set_attribution("nst-krita", "nst-krita", "2026")
        _add_style_arguments(procedure)
        procedure.add_double_argument(
            "strength",
            "St_rength",
            "How much style (1: the canonical balance)",
            0.25,
            4.0,
            1.0,
            GObject.ParamFlags.READWRITE,
        )
        _add_common_arguments(procedure)
        return procedure

    def _texture_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_texture, None)
        procedure.set_image_types("*")
        procedure.set_sensitivity_mask(
            Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.NO_DRAWABLES
        )
        procedure.set_menu_label("Neural Style Te_xture...")
        procedure.add_menu_path("<Image>/Filters/Artistic")
        procedure.set_documentation(
            "Fill a new layer with a painting's texture (tileable on request)",
            "Paints a new layer of the canvas's size (or the selection's, shaped by it) with "
            "the strokes, colours and grain of one or more paintings and no subject, on the "
            "style-transfer server. Tileable: it repeats without a seam.",
            name,
        )
        procedure.set_attribution("nst-krita", "nst-krita", "2026")
        _add_style_arguments(procedure)
        procedure.add_boolean_argument(
            "tileable",
            "_Tileable",
            "Repeats seamlessly in both directions",
            False,
            GObject.ParamFlags.READWRITE,
        )
        _add_common_arguments(procedure)
        return procedure


def _add_style_arguments(procedure):
    procedure.add_file_argument(
        "style",
        "_Style image",
        "A painting whose style to use",
        Gimp.FileChooserAction.OPEN,
        True,
        None,
        GObject.ParamFlags.READWRITE,
    )
    procedure.add_string_argument(
        "styles",
        "More st_yles",
        "Style image paths, one per line (with or instead of Style image)",
        "",
        GObject.ParamFlags.READWRITE,
    )
    choice = Gimp.Choice.new()
    for index, (nick, label) in enumerate(QUALITIES):
        choice.add(nick, index, label, "")
    procedure.add_choice_argument(
        "quality", "_Quality", "Quality preset", choice, "normal", GObject.ParamFlags.READWRITE
    )


def _add_common_arguments(procedure):
    procedure.add_int_argument(
        "seed", "See_d", "Random seed", 0, 2**31 - 1, 0, GObject.ParamFlags.READWRITE
    )
    procedure.add_string_argument(
        "server",
        "Ser_ver",
        "The server's address, e.g. http://127.0.0.1:8765 (empty: the plug-in's own)",
        "",
        GObject.ParamFlags.READWRITE,
    )
    procedure.add_string_argument(
        "token", "To_ken", "The server's token, if it has one", "", GObject.ParamFlags.READWRITE
    )


Gimp.main(NeuralStyle.__gtype__, sys.argv)
