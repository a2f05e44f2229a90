"""Set up the plugin's unit-test world: the fake `krita` module and an offscreen QApplication.

Import this before anything from `nst_krita`. The fake replaces `krita` in sys.modules, so
the plugin package does not register itself (it checks `krita.IS_FAKE`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PLUGIN = ROOT / "plugin_krita"


def setup():
    """The QApplication; skips the calling test module when neither PyQt5 nor PyQt6 is there."""
    import pytest

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for path in (str(PLUGIN), str(HERE)):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        from nst_krita.qt import QtWidgets
    except ImportError as exc:
        pytest.skip(
            f"the plugin's unit tests need PyQt5 (dev extra): {exc}", allow_module_level=True
        )
    import fake_krita

    sys.modules["krita"] = fake_krita
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication(["nst-plugin-tests"])


def process_until(predicate, timeout=5.0):
    """Run Qt's event loop until predicate() is true; False on timeout."""
    import time

    from nst_krita.qt import QEventLoop, QtCore

    QCoreApplication = QtCore.QCoreApplication

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)
    return True
