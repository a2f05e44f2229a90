"""Test-only Krita plugin: runs the Neural Style Transfer plugin's scenarios, records, quits.

Installed next to the real plugin in a throwaway Krita home by tests/krita/harness.py. It
reads its instructions from the JSON file named by $NST_E2E_SPEC and writes report.json
(rewritten after every scenario, so a hang still leaves evidence), layer dumps and exports
into the spec's "out" folder. Each scenario is isolated: an exception is recorded, not fatal.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import traceback

from krita import Extension, InfoObject, Krita, Selection
from PyQt5.QtCore import QCoreApplication, QEventLoop, QTimer
from PyQt5.QtGui import QCursor

SPEC = json.load(open(os.environ["NST_E2E_SPEC"]))
OUT = SPEC["out"]
REPORT = {"scenarios": {}, "errors": [], "log": []}
START = time.monotonic()


def log(*parts):
    REPORT["log"].append("{:.2f} {}".format(time.monotonic() - START, " ".join(map(str, parts))))
    save_report()


def save_report():
    with open(os.path.join(OUT, "report.json.tmp"), "w") as handle:
        json.dump(REPORT, handle, indent=1)
    os.replace(os.path.join(OUT, "report.json.tmp"), os.path.join(OUT, "report.json"))


def excepthook(kind, value, tb):
    # Krita's own hook opens a modal dialog, which would hang a headless run.
    REPORT["errors"].append("".join(traceback.format_exception(kind, value, tb)))
    save_report()


sys.excepthook = excepthook


# -- helpers -----------------------------------------------------------------------------
def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents(QEventLoop.AllEvents, 50)
        time.sleep(0.01)
    return True


def pause(seconds):
    wait_until(lambda: False, seconds)


def layers(doc):
    return [
        {"name": n.name(), "type": n.type(), "bounds": list(n.bounds().getRect())}
        for n in doc.rootNode().childNodes()
    ]


def dump_node(node, name):
    """A node's own pixels over its bounds, as PNG, via the plugin's conversions."""
    from nst_krita import pixels

    x, y, w, h = node.bounds().getRect()
    image = pixels.layer_to_image(bytes(node.pixelData(x, y, w, h)), w, h)
    path = os.path.join(OUT, name + ".png")
    image.save(path, "PNG")
    return {"file": path, "rect": [x, y, w, h]}


def export(doc, name):
    doc.setBatchmode(True)  # otherwise the PNG options dialog blocks
    path = os.path.join(OUT, name)
    ok = doc.exportImage(path, InfoObject())
    doc.waitForDone()
    return path if ok else None


def screenshot(name, rect=None):
    if not SPEC.get("screenshots"):
        return None
    QCoreApplication.processEvents(QEventLoop.AllEvents, 100)
    path = os.path.join(OUT, name + ".png")
    command = ["import", "-window", "root"]
    if rect is not None:
        command += ["-crop", f"{rect[2]}x{rect[3]}+{rect[0]}+{rect[1]}"]
    try:
        subprocess.run(command + [path], timeout=20, check=True)
    except Exception as exc:  # noqa: BLE001 - a missing screenshot is recorded, not fatal
        log("screenshot failed:", exc)
        return None
    return path


def filter_menu_actions(window):
    """objectNames of the actions in the main window's Filter menu."""
    for top in window.qwindow().menuBar().actions():
        if top.menu() is not None and top.text().replace("&", "") == "Filter":
            return [action.objectName() for action in top.menu().actions()]
    return [top.text() for top in window.qwindow().menuBar().actions()]


def activate(doc, node):
    """setActiveNode takes effect through the view, a little later: wait for it."""
    doc.setActiveNode(node)
    if not wait_until(lambda: doc.activeNode() == node, 5):
        log("could not activate", node.name())


def show(doc, node):
    """Open `doc` in a view of its own with `node` active. Krita 5.1 takes the active node set
    before the view exists (and not after: headless, the view's layer list does not refresh);
    5.2 forgets it when the view opens and takes it after."""
    krita = Krita.instance()
    doc.setActiveNode(node)
    window = krita.activeWindow()
    window.showView(window.addView(doc))
    wait_until(lambda: krita.activeDocument() == doc, 5)
    doc.waitForDone()
    if doc.activeNode() != node:
        activate(doc, node)


def show_again(doc, node):
    """Back to the test image's own view and layer after a scenario that opened another."""
    window = Krita.instance().activeWindow()
    for view in window.views():
        if view.document() == doc:
            window.showView(view)
            break
    wait_until(lambda: Krita.instance().activeDocument() == doc, 5)
    activate(doc, node)


def undo(doc):
    Krita.instance().action("edit_undo").trigger()
    doc.waitForDone()
    pause(0.2)


def source_state(doc, node):
    data = bytes(node.pixelData(0, 0, doc.width(), doc.height()))
    return {"bounds": list(node.bounds().getRect()), "sha1": hashlib.sha1(data).hexdigest()}


def error_of(exc):
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "classes": [cls.__name__ for cls in type(exc).__mro__],
    }


# -- scenarios -----------------------------------------------------------------------------
def scenario_server_down(doc, source):
    from nst_krita.api import stylize_active_layer
    from nst_krita.errors import NSTError

    before = layers(doc)
    result = {}
    try:
        stylize_active_layer([SPEC["style"]], SPEC["params"], server=SPEC["dead_server"])
        result["error"] = None
    except NSTError as exc:
        result["error"] = error_of(exc)
    result["layers_before"] = before
    result["layers_after"] = layers(doc)
    result["source_unchanged"] = source_state(doc, source) == REPORT["source"]
    result["flat"] = export(doc, "down_flat.png")
    return result


def scenario_stylize(doc, source):
    from nst_krita.api import stylize_active_layer

    started = time.monotonic()
    node = stylize_active_layer([SPEC["style"]], SPEC["params"], server=SPEC["server"])
    result = {"seconds": round(time.monotonic() - started, 2)}
    result["new"] = {
        "name": node.name(),
        "type": node.type(),
        "bounds": list(node.bounds().getRect()),
    }
    result["new_dump"] = dump_node(node, "stylized_layer")
    result["layers"] = layers(doc)
    result["active"] = doc.activeNode().name()
    result["source_unchanged"] = source_state(doc, source) == REPORT["source"]
    result["flat"] = export(doc, "stylized_flat.png")
    result["kra"] = export(doc, "stylized.kra")
    undo(doc)
    result["layers_after_undo"] = layers(doc)
    result["flat_after_undo"] = export(doc, "undo_flat.png")
    return result


def scenario_selection(doc, source):
    from nst_krita.api import stylize_active_layer

    x, y, w, h = SPEC["selection"]
    selection = Selection()
    selection.select(x, y, w, h, 255)
    doc.setSelection(selection)
    doc.waitForDone()
    node = stylize_active_layer([SPEC["style"]], SPEC["params"], server=SPEC["server"])
    result = {"new": {"name": node.name(), "bounds": list(node.bounds().getRect())}}
    result["source_unchanged"] = source_state(doc, source) == REPORT["source"]
    result["flat"] = export(doc, "selection_flat.png")
    undo(doc)  # the layer
    Krita.instance().action("deselect").trigger()
    doc.waitForDone()
    result["layers_after"] = layers(doc)
    return result


def scenario_ui(doc, source):
    """The menu's "repeat last" action: saved settings, progress window, then insertion."""
    from nst_krita import extension
    from nst_krita.settings import KritaStore, Settings

    shown = []
    extension.show_error = lambda error: shown.append(str(error))  # no modal box headless
    ext = next(e for e in Krita.instance().extensions() if type(e).__name__ == "NSTExtension")
    settings = Settings(**SPEC["ui_settings"])
    settings.mode, settings.server = "external", SPEC["server"]
    settings.last_styles = [{"file": SPEC["style"]}]
    settings.save(KritaStore(Krita.instance()))  # what the dialog does on "Stylize"
    Krita.instance().action("nst_krita_repeat").trigger()
    result = {"started": len(ext.running) == 1, "errors": shown}
    progress = ext.running[0][1] if ext.running else None
    if progress is not None:
        wait_until(
            lambda: (
                not ext.running
                or (
                    progress.preview.pixmap() is not None and not progress.preview.pixmap().isNull()
                )
            ),
            30,
        )
        if ext.running:
            geometry = progress.frameGeometry()
            result["progress_text"] = progress.label.text()
            result["progress_screenshot"] = screenshot(
                "progress_dialog",
                [geometry.x(), geometry.y(), geometry.width(), geometry.height()],
            )
    result["finished"] = wait_until(lambda: not ext.running, 60)
    result["layers"] = layers(doc)
    QCursor.setPos(1590, 990)  # keep the brush outline off the canvas in the screenshot
    pause(1.0)
    # The canvas and menus only: headless, the Layers docker does not refresh (Krita's own
    # "add layer" action shows the same), so it would show a stale list.
    result["screenshot"] = screenshot("krita_result", [0, 0, 1330, 1000])
    result["source_unchanged"] = source_state(doc, source) == REPORT["source"]
    undo(doc)
    result["layers_after_undo"] = layers(doc)
    return result


def scenario_dialog(doc, source):
    from nst_krita.settings import Settings
    from nst_krita.ui.dialog import StyleDialog

    settings = Settings(
        mode="external",
        server=SPEC["server"],
        recent_styles=SPEC["dialog_styles"],
        last_styles=[{"file": SPEC["style"]}],
        quality="draft",
    )
    # As a painter sees it: Krita's own server (started as the dialog opens) and the time the
    # run will take for this layer; then the address of the test's server and its test.
    settings.mode = "managed" if SPEC.get("managed", True) else "external"
    window = Krita.instance().activeWindow().qwindow()
    dialog = StyleDialog(Krita.instance(), settings, doc, window, target_size=(4000, 3000))
    dialog.move(200, 60)
    dialog.show()
    result = {}
    if settings.mode == "managed":
        result["managed_ready"] = wait_until(
            lambda: "Ready on" in dialog.server_panel.state.text(), 90
        )
    result["estimate_shown"] = wait_until(lambda: dialog.estimate.text().startswith("about"), 30)
    result["estimate"] = dialog.estimate.text()
    geometry = dialog.frameGeometry()
    result["screenshot"] = screenshot(
        "dialog", [geometry.x(), geometry.y(), geometry.width(), geometry.height()]
    )
    dialog.server_panel.mode.setCurrentIndex(1)  # a server at an address
    dialog.test_connection()
    wait_until(lambda: dialog.test_button.isEnabled(), 10)
    result.update(
        status=dialog.status.text(),
        styles=dialog.styles.count(),
        checked=[r.name for r in dialog.selected_refs()],
    )
    dialog.reject()
    from nst_krita import managed

    managed.instance().stop()
    return result


def scenario_sixteen_bit(doc, source):
    """A 16-bit integer RGBA document: read, stylised and written back at 16 bits."""
    from nst_krita import pixels
    from nst_krita.api import stylize_active_layer

    krita = Krita.instance()
    x, y, w, h = source.bounds().getRect()
    image = pixels.layer_to_image(bytes(source.pixelData(x, y, w, h)), w, h)
    deep = krita.createDocument(doc.width(), doc.height(), "deep", "RGBA", "U16", "", 72.0)
    layer = deep.createNode("Deep", "paintlayer")
    layer.setPixelData(pixels.image_to_layer(image, 2), x, y, w, h)
    deep.rootNode().addChildNode(layer, None)
    show(deep, layer)
    result = {"depth": [layer.colorModel(), layer.colorDepth()]}
    node = stylize_active_layer([SPEC["style"]], SPEC["params"], server=SPEC["server"])
    result["new"] = {
        "name": node.name(),
        "bounds": list(node.bounds().getRect()),
        "depth": node.colorDepth(),
    }
    nx, ny, nw, nh = node.bounds().getRect()
    styled = pixels.layer_to_image(bytes(node.pixelData(nx, ny, nw, nh)), nw, nh, 2)
    styled.save(os.path.join(OUT, "deep_layer.png"), "PNG")
    result["dump"] = os.path.join(OUT, "deep_layer.png")
    deep.setModified(False)
    return result


def scenario_empty_layer(doc, source):
    """An empty active layer: a clear message, nothing added.

    In its own document, made active before the view exists: headless, a layer added to a
    shown document cannot be activated (the view's layer list does not refresh).
    """
    from nst_krita.api import stylize_active_layer
    from nst_krita.errors import NSTError

    krita = Krita.instance()
    other = krita.createDocument(64, 48, "empty", "RGBA", "U8", "", 72.0)
    empty = other.createNode("Empty", "paintlayer")
    other.rootNode().addChildNode(empty, None)
    show(other, empty)
    result = {"active": other.activeNode().name()}
    before = layers(other)
    try:
        stylize_active_layer([SPEC["style"]], SPEC["params"], server=SPEC["server"])
        result["error"] = None
    except NSTError as exc:
        result["error"] = error_of(exc)
    result["unchanged"] = layers(other) == before
    other.setModified(False)
    return result


def scenario_cancel(doc, source):
    """Cancel in the progress window cancels the job on the server; nothing is inserted."""
    import urllib.request

    from nst_krita import extension
    from nst_krita.settings import Settings
    from nst_krita.styles import StyleRef

    shown = []
    extension.show_error = lambda error: shown.append(str(error))
    ext = next(e for e in Krita.instance().extensions() if type(e).__name__ == "NSTExtension")
    settings = Settings(mode="external", server=SPEC["server"], quality="high", size=96)
    before = layers(doc)
    ext.run(settings, [StyleRef("file", SPEC["style"])])
    job, progress = ext.running[0][0], ext.running[0][1]
    result = {"running": wait_until(lambda: job.state == "running", 30)}
    job_id = job.job_id
    progress.cancel_button.click()
    result["finished"] = wait_until(lambda: not ext.running, 10)
    url = f"{SPEC['server']}/api/v1/jobs/{job_id}"
    state = {}

    def server_state():
        with urllib.request.urlopen(url, timeout=10) as reply:
            state["now"] = json.loads(reply.read().decode())["state"]
        return state["now"] != "running"

    # The worker stops at its next check: on a slow CPU (float32 on AVX2) a few seconds on.
    wait_until(server_state, 30)
    result["server_state"] = state["now"]
    result["errors"] = shown
    result["unchanged"] = layers(doc) == before
    return result


def scenario_group_layer(doc, source):
    """A group layer is read as it looks (its projection); the result goes above the group."""
    from nst_krita import pixels
    from nst_krita.api import stylize_active_layer

    krita = Krita.instance()
    x, y, w, h = source.bounds().getRect()
    data = bytes(source.pixelData(x, y, w, h))
    other = krita.createDocument(doc.width(), doc.height(), "grouped", "RGBA", "U8", "", 72.0)
    group = other.createGroupLayer("Group")
    other.rootNode().addChildNode(group, None)
    inner = other.createNode("Inner", "paintlayer")
    inner.setPixelData(data, x, y, w, h)
    group.addChildNode(inner, None)
    show(other, group)
    node = stylize_active_layer([SPEC["style"]], SPEC["params"], server=SPEC["server"])
    nx, ny, nw, nh = node.bounds().getRect()
    styled = pixels.layer_to_image(bytes(node.pixelData(nx, ny, nw, nh)), nw, nh)
    styled.save(os.path.join(OUT, "group_result.png"), "PNG")
    result = {
        "active": group.name(),
        "new": {"name": node.name(), "bounds": [nx, ny, nw, nh]},
        "top_level": [n.name() for n in other.rootNode().childNodes()],
        "in_group": [n.name() for n in group.childNodes()],
        "dump": os.path.join(OUT, "group_result.png"),
    }
    other.setModified(False)
    return result


def scenario_server_stops(doc, source):
    """The server stops while a job runs: a clear message, nothing inserted. Runs last."""
    from nst_krita import extension
    from nst_krita.settings import Settings
    from nst_krita.styles import StyleRef

    krita = Krita.instance()
    target = krita.activeDocument()
    shown = []
    extension.show_error = lambda error: shown.append(str(error))
    ext = next(e for e in krita.extensions() if type(e).__name__ == "NSTExtension")
    before = layers(target)
    ext.run(
        Settings(mode="external", server=SPEC["server"], quality="high", size=96),
        [StyleRef("file", SPEC["style"])],
    )
    job = ext.running[0][0]
    result = {"running": wait_until(lambda: job.state == "running", 30)}
    open(os.path.join(OUT, "stop_server"), "w").close()  # the test stops the server now
    result["finished"] = wait_until(lambda: not ext.running, 40)
    result["errors"] = shown
    result["unchanged"] = layers(target) == before
    return result


def _start_on_own_document(doc, source, title):
    """A document of its own (a copy of the source layer) with a running job on it."""
    from nst_krita import extension
    from nst_krita.settings import Settings
    from nst_krita.styles import StyleRef

    krita = Krita.instance()
    x, y, w, h = source.bounds().getRect()
    other = krita.createDocument(doc.width(), doc.height(), title, "RGBA", "U8", "", 72.0)
    layer = other.createNode("Doomed", "paintlayer")
    layer.setPixelData(bytes(source.pixelData(x, y, w, h)), x, y, w, h)
    other.rootNode().addChildNode(layer, None)
    show(other, layer)
    shown = []
    extension.show_error = lambda error: shown.append(str(error))
    ext = next(e for e in krita.extensions() if type(e).__name__ == "NSTExtension")
    ext.run(
        Settings(mode="external", server=SPEC["server"], quality="high", size=96),
        [StyleRef("file", SPEC["style"])],
    )
    job = ext.running[0][0]
    running = wait_until(lambda: job.state == "running", 30)
    return other, layer, ext, shown, running


def _all_layers():
    return {d.name(): layers(d) for d in Krita.instance().documents()}


def scenario_layer_deleted(doc, source):
    """The source layer is deleted while its job runs: a clear message, nothing added."""
    other, layer, ext, shown, running = _start_on_own_document(doc, source, "layer deleted")
    layer.remove()
    other.waitForDone()
    before = _all_layers()
    result = {"running": running, "finished": wait_until(lambda: not ext.running, 60)}
    pause(0.5)
    result["errors"] = shown
    result["unchanged"] = _all_layers() == before
    result["layers"] = layers(other)
    other.setModified(False)
    return result


def scenario_document_closed(doc, source):
    """The document is closed while its job runs: a clear message, no layer added anywhere."""
    krita = Krita.instance()
    other, _, ext, shown, running = _start_on_own_document(doc, source, "document closed")
    other.setModified(False)
    other.close()
    wait_until(lambda: len(krita.documents()) > 0 and krita.activeDocument() != other, 5)
    before = _all_layers()
    result = {"running": running, "finished": wait_until(lambda: not ext.running, 60)}
    pause(0.5)
    result["errors"] = shown
    result["unchanged"] = _all_layers() == before
    result["documents"] = len(krita.documents())
    return result


def scenario_texture(doc, source):
    """Filter > Neural Style Texture...'s run: a tileable texture of the canvas's size in a
    new layer above the active one, one undo step."""
    from nst_krita import extension
    from nst_krita.settings import Settings
    from nst_krita.styles import StyleRef

    shown = []
    extension.show_error = lambda error: shown.append(str(error))
    ext = next(e for e in Krita.instance().extensions() if type(e).__name__ == "NSTExtension")
    before = layers(doc)
    settings = Settings(
        mode="external", server=SPEC["server"], quality="draft", tileable=True, seed=1
    )
    ext.run(settings, [StyleRef("file", SPEC["style"])], texture=True)
    result = {"finished": wait_until(lambda: not ext.running, 90)}
    doc.waitForDone()
    result["errors"] = shown
    result["layers"] = layers(doc)
    made = [n for n in doc.rootNode().childNodes() if n.name().startswith("Texture")]
    if made:
        result["dump"] = dump_node(made[0], "texture")
    undo(doc)
    result["after_undo"] = layers(doc) == before
    return result


# -- managed mode: Krita's own server ---------------------------------------------------------
def _own_server():
    from nst_krita import managed

    return managed.instance()


def _note_server(result, key):
    own = _own_server()
    result[key] = {"pid": own.pid(), "url": own.url, "state": own.state, "device": own.device}
    pids = os.path.join(OUT, "server_pids.txt")
    with open(pids, "a") as handle:  # every server this Krita started, for the orphan check
        handle.write(f"{own.pid()}\n")


def scenario_managed_first(doc, source):
    """No server runs and none is given: the plugin starts its own; the next job reuses it."""
    from nst_krita.api import stylize_active_layer

    result = {"state_before": _own_server().state, "since_start": time.monotonic() - START}
    started = time.monotonic()
    node = stylize_active_layer([SPEC["style"]], SPEC["managed_params"])
    result["first_job_s"] = time.monotonic() - started
    result["first_layer"] = node.name()
    _note_server(result, "server")
    started = time.monotonic()
    node = stylize_active_layer([SPEC["style"]], SPEC["managed_params"])
    result["second_job_s"] = time.monotonic() - started
    _note_server(result, "server_after")
    result["log_path"] = _own_server().log_path
    with open(result["log_path"]) as handle:
        result["log"] = handle.read()
    result["layers"] = layers(doc)
    undo(doc)
    undo(doc)
    result["layers_after_undo"] = layers(doc)
    result["source_unchanged"] = source_state(doc, source) == REPORT["source"]
    return result


def scenario_managed_dies(doc, source):
    """Krita's server dies mid-job: the plugin says so, offers a restart; nothing changes."""
    import signal

    from nst_krita import extension
    from nst_krita.settings import Settings
    from nst_krita.styles import StyleRef

    shown, asked = [], []
    extension.show_error = lambda error: shown.append(str(error))
    extension.ask_restart = lambda error: asked.append(str(error)) or False
    ext = next(e for e in Krita.instance().extensions() if type(e).__name__ == "NSTExtension")
    before = layers(doc)
    ext.run(Settings(quality="high", size=96), [StyleRef("file", SPEC["style"])])
    entry = ext.running[0]
    result = {
        "running": wait_until(lambda: entry[0] is not None and entry[0].state == "running", 90)
    }
    _note_server(result, "server")
    os.kill(_own_server().pid(), signal.SIGKILL)
    result["finished"] = wait_until(lambda: not ext.running, 40)
    result["asked"], result["errors"] = asked, shown
    result["state"] = _own_server().state
    result["unchanged"] = layers(doc) == before
    result["source_unchanged"] = source_state(doc, source) == REPORT["source"]
    return result


def scenario_managed_restart(doc, source):
    """Run again after the death, with the old port taken by another program: a new server
    starts on another port and the job completes."""
    import socket
    from urllib.parse import urlsplit

    from nst_krita.api import stylize_active_layer

    old_url = REPORT["scenarios"]["managed_dies"]["server"]["url"]
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past its TIME_WAITs
    blocker.bind(("127.0.0.1", urlsplit(old_url).port))
    blocker.listen(1)
    try:
        node = stylize_active_layer([SPEC["style"]], SPEC["managed_params"])
    finally:
        blocker.close()
    result = {"old_url": old_url, "layer": node.name()}
    _note_server(result, "server")
    undo(doc)
    return result


def scenario_managed_broken_env(doc, source):
    """A recorded environment that is gone, or lacks nst: a clear message, no hang."""
    from nst_krita.api import stylize_active_layer
    from nst_krita.errors import NSTError
    from nst_krita.settings import KritaStore, Settings

    store = KritaStore(Krita.instance())
    _own_server().stop()
    before = layers(doc)
    result = {}
    for case, python in (
        ("missing", "/nonexistent/venv/bin/python"),
        ("no_nst", "/usr/bin/python3"),
    ):
        settings = Settings.load(store)
        settings.python = python
        settings.save(store)
        started = time.monotonic()
        try:
            stylize_active_layer([SPEC["style"]], SPEC["managed_params"])
            result[case] = {"error": None}
        except NSTError as exc:
            result[case] = {"error": error_of(exc)}
        result[case]["seconds"] = time.monotonic() - started
    settings = Settings.load(store)
    settings.python = ""
    settings.save(store)
    result["unchanged"] = layers(doc) == before
    return result


def scenario_managed_last(doc, source):
    """Leave Krita's server running: quitting Krita must stop it (the test checks)."""
    from nst_krita.api import wait_for_client
    from nst_krita.settings import Settings

    wait_for_client(Settings())
    result = {}
    _note_server(result, "server")
    return result


def scenario_managed_then_crash(doc, source):
    """Start Krita's server, then have the test kill Krita outright (SIGKILL)."""
    from nst_krita.api import wait_for_client
    from nst_krita.settings import Settings

    wait_for_client(Settings())
    result = {}
    _note_server(result, "server")
    REPORT["kill_me"] = {"krita": os.getpid(), "server": _own_server().pid()}
    return result


SCENARIOS = {
    "managed_first": scenario_managed_first,
    "managed_dies": scenario_managed_dies,
    "managed_restart": scenario_managed_restart,
    "managed_broken_env": scenario_managed_broken_env,
    "managed_last": scenario_managed_last,
    "managed_then_crash": scenario_managed_then_crash,
    "server_stops": scenario_server_stops,
    "group_layer": scenario_group_layer,
    "layer_deleted": scenario_layer_deleted,
    "document_closed": scenario_document_closed,
    "texture": scenario_texture,
    "empty_layer": scenario_empty_layer,
    "cancel": scenario_cancel,
    "sixteen_bit": scenario_sixteen_bit,
    "server_down": scenario_server_down,
    "stylize": scenario_stylize,
    "selection": scenario_selection,
    "ui": scenario_ui,
    "dialog": scenario_dialog,
}


def run():
    krita = Krita.instance()
    window = krita.activeWindow()
    doc = krita.activeDocument()
    if window is None or window.activeView() is None or doc is None:
        QTimer.singleShot(200, run)
        return
    try:
        window.qwindow().setGeometry(0, 0, 1600, 1000)
        doc.waitForDone()
        view = window.activeView()
        if SPEC.get("zoom") and hasattr(view, "canvas"):
            view.canvas().setZoomLevel(SPEC["zoom"])
        REPORT["plugin_actions"] = [
            name
            for name in ("nst_krita_stylize", "nst_krita_repeat")
            if krita.action(name) is not None
        ]
        REPORT["shortcut"] = krita.action("nst_krita_stylize").shortcut().toString()
        REPORT["filter_menu"] = filter_menu_actions(window)
        source = doc.activeNode()
        REPORT["source"] = source_state(doc, source)
        REPORT["source_name"] = source.name()
        REPORT["source_dump"] = dump_node(source, "source_layer")
        REPORT["layers_start"] = layers(doc)
        REPORT["flat_start"] = export(doc, "start_flat.png")
        save_report()
        for name in SPEC["scenarios"]:
            log("scenario", name)
            try:
                REPORT["scenarios"][name] = SCENARIOS[name](doc, source)
            except Exception as exc:  # noqa: BLE001 - recorded for the test to report
                REPORT["scenarios"][name] = {
                    "exception": error_of(exc),
                    "traceback": traceback.format_exc(),
                }
            save_report()
            show_again(doc, source)
    except Exception:  # noqa: BLE001
        REPORT["errors"].append(traceback.format_exc())
    REPORT["done"] = True
    save_report()
    if SPEC.get("linger"):  # the test kills this Krita itself, once it reads this
        with open(os.path.join(OUT, "kill_krita.tmp"), "w") as handle:
            json.dump(REPORT.get("kill_me", {}), handle)
        os.replace(os.path.join(OUT, "kill_krita.tmp"), os.path.join(OUT, "kill_krita"))
        return
    for d in krita.documents():
        d.setModified(False)
    krita.action("file_quit").trigger()


class Driver(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        pass


Krita.instance().addExtension(Driver(Krita.instance()))
Krita.instance().notifier().windowCreated.connect(lambda: QTimer.singleShot(300, run))
