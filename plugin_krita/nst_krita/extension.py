"""Krita extension: the two Filter-menu actions and the run with progress and messages."""

from __future__ import annotations

from krita import Extension

from . import document
from .api import prepare, start_job
from .client import ServerClient
from .errors import Canceled, NSTError
from .qt import QtWidgets, exec_
from .settings import KritaStore, Settings
from .styles import StyleRef

ACTION_DIALOG = "nst_krita_stylize"
ACTION_REPEAT = "nst_krita_repeat"
MENU = "filter"  # bottom of Krita's Filter menu
TITLE = "Neural Style Transfer"


class NSTExtension(Extension):
    def __init__(self, parent):
        super().__init__(parent)
        self.krita = parent
        self.running = []  # (job, progress dialog): kept alive until they finish

    def setup(self):
        pass

    def createActions(self, window):
        action = window.createAction(ACTION_DIALOG, TITLE + "...", MENU)
        action.triggered.connect(self.show_dialog)
        action = window.createAction(ACTION_REPEAT, TITLE + " (repeat last)", MENU)
        action.triggered.connect(self.repeat_last)

    # -- actions ----------------------------------------------------------------------------
    def show_dialog(self):
        from .ui.dialog import StyleDialog

        settings = Settings.load(KritaStore(self.krita))
        dialog = StyleDialog(
            self.krita,
            settings,
            self.krita.activeDocument(),
            _main_window(),
            target_size=document.target_size(self.krita),
        )
        if not exec_(dialog):
            return
        dialog.apply_to(settings)
        settings.save(KritaStore(self.krita))
        self.run(settings, dialog.selected_refs())

    def repeat_last(self):
        settings = Settings.load(KritaStore(self.krita))
        if not settings.last_styles:
            return self.show_dialog()
        self.run(settings, [StyleRef.parse(item) for item in settings.last_styles])

    # -- one run ------------------------------------------------------------------------------
    def run(self, settings, refs):
        from .ui.progress import ProgressDialog

        try:
            prepared = prepare(self.krita, refs, settings.to_params())
        except NSTError as error:
            return show_error(error)
        client = ServerClient(settings.server, settings.token)
        progress = ProgressDialog("%s: %s" % (TITLE, prepared.layer_name), _main_window())
        job = start_job(client, prepared, parent=progress)
        progress.attach(job)
        entry = (job, progress, client)
        self.running.append(entry)

        def finished(outcome):
            self.running.remove(entry)
            progress.hide()
            progress.deleteLater()
            if isinstance(outcome, Canceled):
                return
            if isinstance(outcome, Exception):
                return show_error(outcome)
            try:
                layer = document.insert_result(
                    self.krita, prepared.source, outcome, prepared.layer_name
                )
            except NSTError as error:
                return show_error(error)
            show_message("Added layer '%s'." % layer.name())

        job.succeeded.connect(finished)
        job.failed.connect(finished)
        progress.show()


def _main_window():
    window = _krita().activeWindow()
    return window.qwindow() if window is not None else None


def _krita():
    from krita import Krita

    return Krita.instance()


def show_error(error):
    QtWidgets.QMessageBox.warning(_main_window(), TITLE, str(error))


def show_message(text):
    window = _krita().activeWindow()
    view = window.activeView() if window is not None else None
    if view is not None and hasattr(view, "showFloatingMessage"):
        from .qt import QIcon

        view.showFloatingMessage(text, QIcon(), 3000, 1)
