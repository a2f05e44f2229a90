"""The "Neural Style Transfer..." dialog: styles with thumbnails, strength, quality, server."""

from __future__ import annotations

import os

from .. import managed
from ..api import with_client
from ..pixels import thumbnail
from ..qt import QIcon, QPixmap, QSize, Qt, QTimer, QtWidgets
from ..settings import PRESERVE, QUALITIES, strength_to_weight
from ..styles import StyleRef, load_thumbnail
from .server_panel import ServerPanel

W = QtWidgets
THUMB = 64
REF_ROLE = Qt.ItemDataRole.UserRole
QUALITY_LABELS = {
    "draft": "Draft (256 px, fastest)",
    "normal": "Normal (512 px)",
    "high": "High (1024 px)",
    "full": "Full (the layer's own size)",
}
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif);;All files (*)"


class StyleDialog(W.QDialog):
    def __init__(
        self, krita, settings, active_doc=None, parent=None, target_size=None, texture=False
    ):
        super().__init__(parent)
        self.krita = krita
        self.settings = settings
        # texture: "Neural Style Texture": no strength, colours or time; a Tileable box.
        self.texture = texture
        self.target_size = None if texture else target_size  # what a run would send
        self._estimator = None
        self.setWindowTitle("Neural Style Texture" if texture else "Neural Style Transfer")
        self._client = None
        layout = W.QVBoxLayout(self)

        layout.addWidget(W.QLabel("Style images (check one or more):"))
        self.styles = W.QListWidget()
        self.styles.setViewMode(W.QListView.ViewMode.IconMode)
        self.styles.setIconSize(QSize(THUMB, THUMB))
        self.styles.setGridSize(QSize(THUMB + 40, THUMB + 36))
        self.styles.setResizeMode(W.QListView.ResizeMode.Adjust)
        self.styles.setMovement(W.QListView.Movement.Static)
        self.styles.setWordWrap(True)
        self.styles.setMinimumHeight(2 * (THUMB + 40))
        layout.addWidget(self.styles)
        row = W.QHBoxLayout()
        add = W.QPushButton("Add image...")
        add.clicked.connect(self._browse)
        remove = W.QPushButton("Forget")
        remove.setToolTip("Remove the selected style from the recent list")
        remove.clicked.connect(self._forget)
        row.addWidget(add)
        row.addWidget(remove)
        row.addStretch(1)
        layout.addLayout(row)

        form = W.QFormLayout()
        self.strength = W.QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 100)
        self.strength.setValue(settings.strength)
        self.strength_label = W.QLabel()
        self.strength.valueChanged.connect(self._show_strength)
        strength_row = W.QHBoxLayout()
        strength_row.addWidget(self.strength, 1)
        strength_row.addWidget(self.strength_label)
        if not texture:
            form.addRow("Strength:", strength_row)

        self.quality = W.QComboBox()
        self.quality.addItems([QUALITY_LABELS[q] for q in QUALITIES])
        self.quality.setToolTip(
            "Working size: the result always has the layer's size; Full paints at it, "
            "the others paint smaller and enlarge"
        )
        self.quality.setCurrentIndex(QUALITIES.index(settings.quality))
        self.size = W.QSpinBox()
        self.size.setRange(0, 8192)
        self.size.setSingleStep(64)
        self.size.setSpecialValueText("from quality")
        self.size.setSuffix(" px")
        self.size.setValue(settings.size)
        self.size.setToolTip("Long edge of the working resolution (more = slower, finer)")
        quality_row = W.QHBoxLayout()
        quality_row.addWidget(self.quality, 1)
        quality_row.addWidget(W.QLabel("Size:"))
        quality_row.addWidget(self.size, 1)
        form.addRow("Quality:", quality_row)
        self.brush = W.QSpinBox()
        self.brush.setRange(25, 400)
        self.brush.setSingleStep(25)
        self.brush.setSuffix(" %")
        self.brush.setValue(settings.brush_size)
        self.brush.setToolTip(
            "Size of the painting's strokes: 100 % paints them as large, relative to the "
            "picture, as in the painting at the working size; less gives finer strokes"
        )
        form.addRow("Brush size:", self.brush)
        self.estimate = W.QLabel("")
        self.estimate.setWordWrap(True)
        if not texture:
            form.addRow("Time:", self.estimate)
        # Asked of the server shortly after the last change, not on every keystroke.
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(400)
        self._estimate_timer.timeout.connect(self.request_estimate)
        self.quality.currentIndexChanged.connect(self._estimate_later)
        self.size.valueChanged.connect(self._estimate_later)

        self.preserve = W.QComboBox()
        self.preserve.addItems(
            ["No (colours of the style)", "Luminance transfer", "Histogram matching"]
        )
        self.preserve.setCurrentIndex(PRESERVE.index(settings.preserve_colors))
        if not texture:
            form.addRow("Preserve colours:", self.preserve)
        self.tileable = W.QCheckBox("Repeats seamlessly (patterns, wrap-around mode)")
        self.tileable.setChecked(bool(settings.tileable))
        if texture:
            form.addRow("Tileable:", self.tileable)

        self.seed = W.QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(min(settings.seed, 2**31 - 1))
        form.addRow("Seed:", self.seed)

        layout.addLayout(form)
        self.server_panel = ServerPanel(settings)
        layout.addWidget(self.server_panel)
        # The external page's widgets, by their old names (scripts and tests use them).
        panel = self.server_panel
        self.server, self.token = panel.url, panel.token
        self.test_button, self.status = panel.test_button, panel.status
        self.message = W.QLabel("")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        buttons = W.QDialogButtonBox(
            W.QDialogButtonBox.StandardButton.Ok | W.QDialogButtonBox.StandardButton.Cancel
        )
        ok_text = "Paint texture" if texture else "Stylize"
        buttons.button(W.QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        panel.changed.connect(self._estimate_later)
        panel.ready.connect(self._estimate_later)

        self._show_strength(settings.strength)
        self._fill_styles(active_doc)
        self.resize(560, 700)
        if settings.mode == "managed" and self.target_size is not None:
            panel.start_server()  # warm it up while the painter chooses
        self._estimate_later()

    # -- styles ---------------------------------------------------------------------------
    def _fill_styles(self, active_doc):
        checked = {(k, v) for item in self.settings.last_styles for k, v in item.items()}
        for path in self.settings.recent_styles:
            if os.path.isfile(path):
                self._add_item(StyleRef("file", path), ("file", path) in checked)
        for doc in self.krita.documents() if self.krita is not None else []:
            if active_doc is not None and doc == active_doc:
                continue
            ref = StyleRef.parse(doc)
            self._add_item(ref, ("document", ref.value) in checked, doc)

    def _add_item(self, ref, checked, doc=None):
        item = W.QListWidgetItem(ref.name if ref.kind == "file" else ref.name + "\n(open)")
        item.setData(REF_ROLE, ref.to_dict())
        item.setToolTip(ref.value if ref.kind == "file" else "Open document: " + ref.value)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        image = load_thumbnail(ref.value, THUMB) if ref.kind == "file" else None
        if image is None and doc is not None:
            qimage = doc.thumbnail(THUMB, THUMB)
            image = qimage.toImage() if hasattr(qimage, "toImage") else qimage
        if image is not None and not image.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(thumbnail(image, THUMB))))
        self.styles.addItem(item)
        return item

    def _browse(self):
        start = (
            os.path.dirname(self.settings.recent_styles[0])
            if self.settings.recent_styles
            else os.path.expanduser("~")
        )
        paths, _ = W.QFileDialog.getOpenFileNames(self, "Choose style images", start, IMAGE_FILTER)
        for path in paths:
            self.add_style_file(path)

    def add_style_file(self, path):
        for index in range(self.styles.count()):
            item = self.styles.item(index)
            if item.data(REF_ROLE) == {"file": path}:
                item.setCheckState(Qt.CheckState.Checked)
                return item
        self.settings.remember_style(path)
        item = self._add_item(StyleRef("file", path), True)
        self.styles.scrollToItem(item)
        return item

    def _forget(self):
        for item in self.styles.selectedItems():
            ref = item.data(REF_ROLE)
            if "file" in ref:
                self.settings.recent_styles = [
                    p for p in self.settings.recent_styles if p != ref["file"]
                ]
            self.styles.takeItem(self.styles.row(item))

    def selected_refs(self):
        refs = []
        for index in range(self.styles.count()):
            item = self.styles.item(index)
            if item.checkState() == Qt.CheckState.Checked:
                refs.append(StyleRef.parse(item.data(REF_ROLE)))
        return refs

    # -- the rest ---------------------------------------------------------------------------
    def _show_strength(self, value):
        self.strength_label.setText("%.2f\u00d7" % strength_to_weight(value))

    def apply_to(self, settings):
        settings.strength = self.strength.value()
        settings.quality = QUALITIES[max(0, self.quality.currentIndex())]
        settings.size = self.size.value() if self.size.value() >= 32 else 0
        settings.brush_size = self.brush.value()
        settings.preserve_colors = PRESERVE[self.preserve.currentIndex()]
        settings.seed = self.seed.value()
        settings.tileable = self.tileable.isChecked()
        self.server_panel.apply_to(settings)
        refs = self.selected_refs()
        settings.last_styles = [ref.to_dict() for ref in refs]
        for ref in reversed(refs):
            if ref.kind == "file":
                settings.remember_style(ref.value)

    def accept(self):
        if not self.selected_refs():
            self.message.setText("Check at least one style image (or add one).")
            return
        super().accept()

    def test_connection(self):
        self.server_panel.test_connection()

    # -- the time estimate ------------------------------------------------------------------
    def _estimate_later(self, *_):
        if self.target_size is None:
            self.estimate.setText("")
            return
        self.estimate.setText("estimating...")
        self._estimate_timer.start()

    def request_estimate(self):
        if self.target_size is None:
            return
        settings = type(self.settings)()
        self.apply_to(settings)
        if settings.mode == "managed" and managed.instance().state != managed.READY_STATE:
            self.estimate.setText("once the server has started")
            return
        if self._estimator is not None:
            self._estimator.abort_all()
        width, height = self.target_size

        def connected(client, error):
            if error is not None:
                return self._on_estimate(None, error)
            self._estimator = client
            client.timeout = 20
            client.estimate(width, height, settings.to_params(), self._on_estimate)

        with_client(settings, connected)

    def _on_estimate(self, response, error):
        try:
            label = self.estimate
            label.text()
        except RuntimeError:  # the dialog was closed and deleted meanwhile
            return
        if error is not None:
            label.setText("unknown (%s)" % error)
            return
        try:
            label.setText(describe_estimate(response.json(), self.target_size))
        except Exception as exc:  # noqa: BLE001 - shown to the user
            label.setText("unknown (%s)" % exc)


def describe_time(seconds) -> str:
    seconds = max(1, int(round(seconds)))
    if seconds < 90:
        return "%d s" % seconds
    minutes = int(round(seconds / 60.0))
    if minutes < 90:
        return "%d min" % minutes
    return "%d h %02d min" % divmod(minutes, 60)


def describe_estimate(estimate, target_size) -> str:
    """'about 14 min on cpu, painted at 4000x3000 px (layer 4000x3000)'."""
    scales = estimate.get("scales") or [{}]
    last = scales[-1]
    text = "about %s on %s, painted at %sx%s px" % (
        describe_time(estimate.get("seconds", 0)),
        estimate.get("device", "?"),
        last.get("width", "?"),
        last.get("height", "?"),
    )
    if target_size is not None and (last.get("width"), last.get("height")) != tuple(target_size):
        text += " and enlarged to %dx%d" % tuple(target_size)
    return text
