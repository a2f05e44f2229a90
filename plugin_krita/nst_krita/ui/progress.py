"""Progress window of a running job: bar, step/ETA, latest preview, Cancel.

It is not modal, so the artist can keep working; the result is inserted when the job ends.
"""

from __future__ import annotations

from ..job import format_progress
from ..pixels import from_png, thumbnail
from ..qt import QPixmap, Qt, QtWidgets

W = QtWidgets
PREVIEW = 320


class ProgressDialog(W.QDialog):
    def __init__(self, title, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = W.QVBoxLayout(self)
        self.preview = W.QLabel("Preview appears after the first steps")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(PREVIEW, PREVIEW * 3 // 4)
        layout.addWidget(self.preview, 1)
        self.bar = W.QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        layout.addWidget(self.bar)
        self.label = W.QLabel("Uploading...")
        layout.addWidget(self.label)
        self.cancel_button = W.QPushButton("Cancel")
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)
        self.cancel_button.clicked.connect(self.cancel)
        self.job = None
        self.canceled = False  # Cancel pressed before there was a job (server starting)

    def attach(self, job):
        self.job = job
        job.progress.connect(self.show_status)
        job.preview.connect(self.show_preview)

    def cancel(self):
        if self.job is not None:
            if not self.job.finished:
                self.job.cancel()
        else:
            self.canceled = True
            self.hide()

    def show_status(self, status):
        fraction = (status.get("progress") or {}).get("fraction")
        if fraction is not None:
            self.bar.setValue(int(1000 * max(0.0, min(1.0, float(fraction)))))
        self.label.setText(format_progress(status))

    def show_preview(self, png):
        try:
            image = from_png(png, "preview")
        except Exception:  # noqa: BLE001 - a bad preview is not worth interrupting the job
            return
        self.preview.setPixmap(QPixmap.fromImage(thumbnail(image, PREVIEW)))

    def closeEvent(self, event):  # closing the window means Cancel
        self.cancel()
        super().closeEvent(event)

    def reject(self):  # Esc
        self.cancel()
        super().reject()
