"""The dialog's Server box: Krita's own server (state, Start/Stop, log) or one at an address."""

from __future__ import annotations

from .. import managed
from ..client import ServerClient
from ..qt import QDesktopServices, Qt, QtWidgets, QUrl, pyqtSignal
from ..settings import MODES

W = QtWidgets
MODE_LABELS = {
    "managed": "This computer: Krita starts and stops the server (recommended)",
    "external": "A server at an address (started by hand, or on another machine)",
}


class ServerPanel(W.QGroupBox):
    changed = pyqtSignal()  # the server to use may have changed: estimate again
    ready = pyqtSignal()  # Krita's own server became ready

    def __init__(self, settings, parent=None):
        super().__init__("Server", parent)
        self._client = None
        form = W.QFormLayout(self)
        self.mode = W.QComboBox()
        self.mode.addItems([MODE_LABELS[m] for m in MODES])
        self.mode.setCurrentIndex(MODES.index(settings.mode))
        form.addRow("Runs on:", self.mode)
        self.pages = W.QStackedWidget()
        self.pages.addWidget(self._managed_page(settings))
        self.pages.addWidget(self._external_page(settings))
        self.pages.setCurrentIndex(self.mode.currentIndex())
        form.addRow(self.pages)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        own = managed.instance()
        own.state_changed.connect(self._show_state)
        self._show_state(own.state, own.text)

    # -- pages -------------------------------------------------------------------------------
    def _managed_page(self, settings):
        page = W.QWidget()
        form = W.QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.python = W.QLineEdit(settings.python)
        recorded = managed.recorded_python()
        self.python.setPlaceholderText(recorded or "not recorded: run install.py with nst's Python")
        self.python.setToolTip("The Python of the environment where nst is installed")
        browse = W.QPushButton("Browse...")
        browse.clicked.connect(self._browse_python)
        row = W.QHBoxLayout()
        row.addWidget(self.python, 1)
        row.addWidget(browse)
        form.addRow("Python:", row)
        self.state = W.QLabel("")
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("State:", self.state)
        buttons = W.QHBoxLayout()
        self.start_button = W.QPushButton("Start")
        self.start_button.clicked.connect(self.start_server)
        self.stop_button = W.QPushButton("Stop")
        self.stop_button.clicked.connect(lambda: managed.instance().stop())
        self.log_button = W.QPushButton("Open log")
        self.log_button.clicked.connect(self.open_log)
        for button in (self.start_button, self.stop_button, self.log_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        form.addRow("", buttons)
        self.python.editingFinished.connect(self.changed)
        return page

    def _external_page(self, settings):
        page = W.QWidget()
        form = W.QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        self.url = W.QLineEdit(settings.server)
        self.token = W.QLineEdit(settings.token)
        self.token.setEchoMode(W.QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("only if the server was started with --token")
        form.addRow("Address:", self.url)
        form.addRow("Token:", self.token)
        row = W.QHBoxLayout()
        self.test_button = W.QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.status = W.QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.test_button)
        row.addWidget(self.status, 1)
        form.addRow("", row)
        self.url.editingFinished.connect(self.changed)
        self.token.editingFinished.connect(self.changed)
        return page

    # -- state ------------------------------------------------------------------------------
    @property
    def mode_name(self):
        return MODES[max(0, self.mode.currentIndex())]

    def apply_to(self, settings):
        settings.mode = self.mode_name
        settings.python = self.python.text().strip()
        settings.server = self.url.text().strip() or settings.server
        settings.token = self.token.text().strip()

    def _mode_changed(self, index):
        self.pages.setCurrentIndex(index)
        self.changed.emit()

    def _show_state(self, state, text):
        try:
            self.state.setText(text)
        except RuntimeError:  # the dialog is gone; the server lives on
            return
        self.start_button.setEnabled(state in (managed.STOPPED, managed.FAILED))
        self.stop_button.setEnabled(state in (managed.STARTING, managed.READY_STATE))
        if state == managed.READY_STATE:
            self.ready.emit()

    def start_server(self):
        """Start Krita's own server with the Python shown (the dialog stays responsive)."""
        python = self.python.text().strip() or None
        own = managed.instance(python)
        if own.state != managed.READY_STATE:
            own.ensure(lambda error: None)  # the state label shows the outcome

    def _browse_python(self):
        path, _ = W.QFileDialog.getOpenFileName(self, "The Python of nst's environment")
        if path:
            self.python.setText(path)
            self.changed.emit()

    def open_log(self):
        own = managed.instance()
        path = own.log_path or managed.default_log_path()
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    # -- external: test connection ------------------------------------------------------------
    def test_connection(self):
        self.status.setText("Connecting...")
        self.test_button.setEnabled(False)
        self._client = ServerClient(self.url.text(), self.token.text().strip(), timeout=10)
        self._client.info(self._on_info)

    def _on_info(self, response, error):
        try:
            self.test_button.setEnabled(True)
        except RuntimeError:  # the dialog was closed and deleted meanwhile
            return
        if error is not None:
            self.status.setText(str(error))
            return
        try:
            info = response.json()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.status.setText(str(exc))
            return
        self.status.setText(describe_info(info))


def describe_info(info) -> str:
    queue = info.get("queue") or {}
    return "Connected: server %s on %s (%s, %s weights), queue %s/%s." % (
        info.get("version", "?"),
        info.get("device", "?"),
        info.get("precision", "?"),
        info.get("weights", "?"),
        queue.get("length", "?"),
        queue.get("max", "?"),
    )
