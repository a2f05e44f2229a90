"""Krita extension: the two Filter-menu actions and the run with progress and messages."""

from __future__ import annotations

from krita import Extension

from . import document, managed
from .api import explain_lost_server, prepare, prepare_texture, start_job, with_client
from .errors import Canceled, NSTError
from .qt import QtWidgets, exec_
from .settings import KritaStore, Settings
from .styles import StyleRef

ACTION_DIALOG = "nst_krita_stylize"
ACTION_REPEAT = "nst_krita_repeat"
ACTION_TEXTURE = "nst_krita_texture"
MENU = "filter"  # bottom of Krita's Filter menu
TITLE = "Neural Style Transfer"


class NSTExtension(Extension):
    def __init__(self, parent):
        super().__init__(parent)
        self.krita = parent
        self.running = []  # (job, progress dialog): kept alive until they finish

    def setup(self):
        # Krita's own server stops with Krita (and dies with it anyway: --parent-pid).
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(managed.shutdown)
        notifier = self.krita.notifier() if hasattr(self.krita, "notifier") else None
        if notifier is not None and hasattr(notifier, "applicationClosing"):
            notifier.applicationClosing.connect(managed.shutdown)

    def createActions(self, window):
        action = window.createAction(ACTION_DIALOG, TITLE + "...", MENU)
        action.triggered.connect(self.show_dialog)
        action = window.createAction(ACTION_REPEAT, TITLE + " (repeat last)", MENU)
        action.triggered.connect(self.repeat_last)
        action = window.createAction(ACTION_TEXTURE, "Neural Style Texture...", MENU)
        action.triggered.connect(self.show_texture_dialog)

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

    def show_texture_dialog(self):
        """A new layer of the canvas's (or the selection's) size filled with a painting's
        texture, tileable on request."""
        from .ui.dialog import StyleDialog

        settings = Settings.load(KritaStore(self.krita))
        dialog = StyleDialog(
            self.krita, settings, self.krita.activeDocument(), _main_window(), texture=True
        )
        if not exec_(dialog):
            return
        dialog.apply_to(settings)
        settings.save(KritaStore(self.krita))
        self.run(settings, dialog.selected_refs(), texture=True)

    def repeat_last(self):
        settings = Settings.load(KritaStore(self.krita))
        if not settings.last_styles:
            return self.show_dialog()
        self.run(settings, [StyleRef.parse(item) for item in settings.last_styles])

    # -- one run ------------------------------------------------------------------------------
    def run(self, settings, refs, texture=False):
        from .ui.progress import ProgressDialog

        try:
            if texture:
                prepared = prepare_texture(self.krita, refs, settings)
            else:
                prepared = prepare(self.krita, refs, settings.to_params())
        except NSTError as error:
            return show_error(error)
        progress = ProgressDialog("%s: %s" % (TITLE, prepared.layer_name), _main_window())
        entry = [None, progress, None]  # job, progress dialog, client: kept alive until done
        self.running.append(entry)
        progress.show()

        def connected(client, error):
            if progress.canceled:  # closed while the server was starting
                return self._forget(entry)
            if error is not None:
                self._forget(entry)
                return show_error(error)
            job = start_job(client, prepared, parent=progress)
            entry[0], entry[2] = job, client
            progress.attach(job)
            job.succeeded.connect(
                lambda outcome: self._finished(entry, prepared, settings, refs, outcome)
            )
            job.failed.connect(
                lambda outcome: self._finished(entry, prepared, settings, refs, outcome)
            )

        if settings.mode == "managed" and managed.instance().state != managed.READY_STATE:
            progress.label.setText("Starting the style server...")
        with_client(settings, connected)

    def _finished(self, entry, prepared, settings, refs, outcome):
        self._forget(entry)
        if isinstance(outcome, Canceled):
            return
        if isinstance(outcome, Exception):
            error = explain_lost_server(outcome, settings)
            if isinstance(error, managed.ServerFailed) and ask_restart(error):
                return self.run(settings, refs, prepared.source.image is None)
            return show_error(error)
        try:
            layer = document.insert_result(
                self.krita, prepared.source, outcome, prepared.layer_name
            )
        except NSTError as error:
            return show_error(error)
        show_message("Added layer '%s'." % layer.name())

    def _forget(self, entry):
        if entry in self.running:
            self.running.remove(entry)
        progress = entry[1]
        progress.hide()
        progress.deleteLater()


def _main_window():
    window = _krita().activeWindow()
    return window.qwindow() if window is not None else None


def _krita():
    from krita import Krita

    return Krita.instance()


def show_error(error):
    QtWidgets.QMessageBox.warning(_main_window(), TITLE, str(error))


def ask_restart(error):
    """Krita's own server stopped during a job: offer to start it again and rerun."""
    box = QtWidgets.QMessageBox(_main_window())
    box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
    box.setWindowTitle(TITLE)
    box.setText(str(error))
    restart = box.addButton(
        "Restart the server and run again", QtWidgets.QMessageBox.ButtonRole.AcceptRole
    )
    box.addButton(QtWidgets.QMessageBox.StandardButton.Close)
    exec_(box)
    return box.clickedButton() == restart


def show_message(text):
    window = _krita().activeWindow()
    view = window.activeView() if window is not None else None
    if view is not None and hasattr(view, "showFloatingMessage"):
        from .qt import QIcon

        view.showFloatingMessage(text, QIcon(), 3000, 1)
