"""Style images: from a file (any format Qt reads) or from another open document."""

from __future__ import annotations

import os

from .errors import StyleError
from .pixels import check_format, layer_to_image, to_png
from .qt import QImage

MAX_STYLE_EDGE = 2048  # larger styles are scaled down before upload; the engine works smaller
PASS_THROUGH = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG and JPEG go to the server as-is


class StyleRef:
    """A style the user picked: `kind` is "file" (value = path) or "document" (value = name)."""

    def __init__(self, kind, value):
        self.kind = kind
        self.value = value

    @classmethod
    def parse(cls, item):
        """From a path, a Krita Document, a dict saved in settings, or a StyleRef."""
        if isinstance(item, StyleRef):
            return item
        if isinstance(item, dict):
            if "file" in item:
                return cls("file", str(item["file"]))
            if "document" in item:
                return cls("document", str(item["document"]))
            raise StyleError("Unknown style entry: %r" % (item,))
        if isinstance(item, (str, os.PathLike)):
            return cls("file", os.fspath(item))
        if hasattr(item, "pixelData") and hasattr(item, "name"):
            ref = cls("document", _document_name(item))
            ref.document = item
            return ref
        raise StyleError("A style must be an image file path or an open Krita document.")

    def to_dict(self):
        return {self.kind: self.value}

    @property
    def name(self) -> str:
        base = os.path.basename(self.value) if self.kind == "file" else self.value
        return os.path.splitext(base)[0] or base

    def load(self, krita=None):
        """(filename, bytes) to upload."""
        if self.kind == "file":
            return load_file(self.value)
        doc = getattr(self, "document", None) or find_document(krita, self.value)
        return self.name + ".png", document_png(doc)


def load_file(path: str):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise StyleError("Could not read the style image %s: %s" % (path, exc.strerror)) from None
    image = QImage()
    if not image.loadFromData(data):
        raise StyleError("The style file %s is not an image Krita's Qt can read." % path)
    name = os.path.basename(path)
    if data.startswith(PASS_THROUGH) and max(image.width(), image.height()) <= MAX_STYLE_EDGE:
        return name, data
    return os.path.splitext(name)[0] + ".png", to_png(_fit(image))


def document_png(doc) -> bytes:
    """The flattened image of an open document, as PNG."""
    channel_bytes = check_format(doc.colorModel(), doc.colorDepth())
    width, height = doc.width(), doc.height()
    data = bytes(doc.pixelData(0, 0, width, height))
    return to_png(_fit(layer_to_image(data, width, height, channel_bytes)))


def find_document(krita, name):
    for doc in krita.documents() if krita is not None else []:
        if _document_name(doc) == name:
            return doc
    raise StyleError("The style document '%s' is no longer open." % name)


def _document_name(doc) -> str:
    path = doc.fileName()
    return os.path.splitext(os.path.basename(path))[0] if path else (doc.name() or "Untitled")


def _fit(image):
    if max(image.width(), image.height()) <= MAX_STYLE_EDGE:
        return image
    from .pixels import thumbnail

    return thumbnail(image, MAX_STYLE_EDGE)


def load_thumbnail(path: str, size: int = 64):
    """A small QImage of a style file, or None when it cannot be read."""
    image = QImage(path)
    if image.isNull():
        return None
    from .pixels import thumbnail

    return thumbnail(image, size)
