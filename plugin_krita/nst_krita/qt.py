"""The one place that imports Qt, so the plugin runs on PyQt5 (Krita 5) and PyQt6 (Krita 6).

Krita 6 refuses PyQt5 imports and Krita 5 ships no PyQt6, so take whichever Krita already
loaded, else the first that imports. Code elsewhere uses scoped enum names
(`QImage.Format.Format_ARGB32`), which both bindings accept.
"""

from __future__ import annotations

import sys

if "PyQt6" in sys.modules:  # pragma: no cover - only under Krita 6
    _ORDER = ("PyQt6", "PyQt5")
else:
    _ORDER = ("PyQt5", "PyQt6")

_errors = []
for _name in _ORDER:
    try:
        if _name == "PyQt5":
            from PyQt5 import QtCore, QtGui, QtNetwork, QtWidgets
        else:  # pragma: no cover
            from PyQt6 import QtCore, QtGui, QtNetwork, QtWidgets  # noqa: F401
        QT_API = _name
        break
    except ImportError as exc:  # keep trying the other binding
        _errors.append("%s: %s" % (_name, exc))
else:  # pragma: no cover
    raise ImportError(
        "Neural Style Transfer needs PyQt5 or PyQt6, as bundled with Krita 5 or 6 ("
        + "; ".join(_errors)
        + ")"
    )

QT_MAJOR = int(QtCore.QT_VERSION_STR.split(".")[0])

Qt = QtCore.Qt
QObject = QtCore.QObject
QTimer = QtCore.QTimer
QUrl = QtCore.QUrl
QBuffer = QtCore.QBuffer
QByteArray = QtCore.QByteArray
QIODevice = QtCore.QIODevice
QEventLoop = QtCore.QEventLoop
QSize = QtCore.QSize
QRect = QtCore.QRect
QProcess = QtCore.QProcess
QProcessEnvironment = QtCore.QProcessEnvironment
QStandardPaths = QtCore.QStandardPaths
pyqtSignal = QtCore.pyqtSignal

QImage = QtGui.QImage
QPixmap = QtGui.QPixmap
QIcon = QtGui.QIcon
QPainter = QtGui.QPainter
QDesktopServices = QtGui.QDesktopServices

QNetworkAccessManager = QtNetwork.QNetworkAccessManager
QNetworkRequest = QtNetwork.QNetworkRequest
QNetworkReply = QtNetwork.QNetworkReply
QNetworkProxy = QtNetwork.QNetworkProxy


def exec_(obj):
    """`exec()` on dialogs, menus and event loops; PyQt5 also names it `exec_`."""
    method = getattr(obj, "exec", None) or obj.exec_
    return method()


def image_bytes(image):
    """The raw pixel buffer of a QImage as `bytes` (rows padded to bytesPerLine)."""
    ptr = image.constBits()
    size = image.sizeInBytes()
    if hasattr(ptr, "setsize"):  # PyQt5 sip.voidptr
        ptr.setsize(size)
        return bytes(ptr)
    return ptr.asstring(size)  # pragma: no cover - PyQt6
