"""Pixel conversions between Krita's raw layer bytes, QImage and PNG, and rectangle helpers.

Krita hands out pixels row-major with no padding. For the RGBA model the integer depths are
stored B, G, R, A (KoBgrU8/U16 traits), which on little-endian machines is exactly
`QImage.Format_ARGB32` (not premultiplied) for 8 bits; 16 bits map onto `Format_RGBA64`
with red and blue swapped. Selections are one byte per pixel, 255 = fully selected.
"""

from __future__ import annotations

import sys
from collections import namedtuple

from .errors import NSTError, UnsupportedLayer
from .qt import QBuffer, QByteArray, QImage, QIODevice, image_bytes

Rect = namedtuple("Rect", "x y width height")

# colorDepth() -> bytes per channel, for the RGBA model we can convert without loss.
SUPPORTED_DEPTHS = {"U8": 1, "U16": 2}


def rect_of(qrect) -> Rect:
    return Rect(qrect.x(), qrect.y(), qrect.width(), qrect.height())


def is_empty(rect: Rect) -> bool:
    return rect.width <= 0 or rect.height <= 0


def intersect(a: Rect, b: Rect) -> Rect:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1 = min(a.x + a.width, b.x + b.width)
    y1 = min(a.y + a.height, b.y + b.height)
    return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def grow(rect: Rect, margin: int) -> Rect:
    return Rect(rect.x - margin, rect.y - margin, rect.width + 2 * margin, rect.height + 2 * margin)


def context_margin(rect: Rect) -> int:
    """Context kept around a selection so the style sees the neighbourhood (1/8 of the size)."""
    return max(16, (max(rect.width, rect.height) + 7) // 8)


def check_format(color_model: str, color_depth: str) -> int:
    """Bytes per channel for a layer format we handle, or a clear refusal."""
    if sys.byteorder != "little":  # pragma: no cover - every platform Krita ships on
        raise UnsupportedLayer("Big-endian machines are not supported.")
    if color_model != "RGBA" or color_depth not in SUPPORTED_DEPTHS:
        raise UnsupportedLayer(
            "This layer is %s %s. Neural style transfer works on RGB images with 8 or 16 bits "
            "per channel (integer). Convert a copy with Image > Convert Image Color Space "
            "(RGB/Alpha, 8-bit integer) and try again." % (color_model, _depth_name(color_depth))
        )
    return SUPPORTED_DEPTHS[color_depth]


def _depth_name(depth: str) -> str:
    return {
        "U8": "8-bit integer",
        "U16": "16-bit integer",
        "F16": "16-bit float",
        "F32": "32-bit float",
    }.get(depth, depth)


def layer_to_image(data: bytes, width: int, height: int, channel_bytes: int = 1):
    """Krita RGBA bytes (BGRA order, 8 or 16 bits) -> an owned QImage in Format_ARGB32."""
    expected = width * height * 4 * channel_bytes
    if len(data) != expected:
        raise NSTError(
            "Krita returned %d bytes for a %dx%d layer, expected %d."
            % (len(data), width, height, expected)
        )
    if channel_bytes == 1:
        return QImage(data, width, height, width * 4, QImage.Format.Format_ARGB32).copy()
    wrapped = QImage(data, width, height, width * 8, QImage.Format.Format_RGBA64)
    return wrapped.rgbSwapped().convertToFormat(QImage.Format.Format_ARGB32)


def image_to_layer(image, channel_bytes: int = 1) -> bytes:
    """A QImage -> Krita RGBA bytes (BGRA order) at the given depth, unpremultiplied."""
    if channel_bytes == 1:
        return image_bytes(image.convertToFormat(QImage.Format.Format_ARGB32))
    return image_bytes(image.convertToFormat(QImage.Format.Format_RGBA64).rgbSwapped())


def mask_to_image(data: bytes, width: int, height: int):
    """One byte per pixel (a Krita selection) -> an owned QImage in Format_Grayscale8."""
    if len(data) != width * height:
        raise NSTError("Krita returned a selection of unexpected size.")
    return QImage(data, width, height, width, QImage.Format.Format_Grayscale8).copy()


def alpha_is_empty(data: bytes, channel_bytes: int = 1) -> bool:
    """True when every pixel is fully transparent (alpha is the 4th channel)."""
    step = 4 * channel_bytes
    alpha = data[3 * channel_bytes :: step]
    if channel_bytes == 2:
        alpha += data[3 * channel_bytes + 1 :: step]
    return not alpha.strip(b"\0")


def mask_is_full(data: bytes) -> bool:
    return not data.strip(b"\xff")


def mask_is_empty(data: bytes) -> bool:
    return not data.strip(b"\0")


# Qt maps PNG "quality" 80 to zlib level 1: a 4000x3000 painted layer takes 1.4 s to encode
# at level 1 against 5.8 s at Qt's default, for a 14% larger upload to a server that is
# usually on the same machine (and answers with level 1 too).
PNG_QUALITY = 80


def to_png(image) -> bytes:
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG", PNG_QUALITY):
        raise NSTError("Could not encode the image as PNG.")
    buffer.close()
    return bytes(array)


def from_png(data: bytes, what: str = "image"):
    image = QImage()
    if not data or not image.loadFromData(QByteArray(data), "PNG"):
        raise NSTError("The server sent a %s that is not a valid PNG." % what)
    return image


def result_to_layer(png: bytes, width: int, height: int, channel_bytes: int = 1, mask=None):
    """The server's PNG result -> layer bytes, checking it has the size we sent.

    With a selection `mask`, the layer's alpha is multiplied by it: the new layer is
    transparent outside the selection, so the document looks unchanged there.
    """
    image = from_png(png, "result")
    if image.width() != width or image.height() != height:
        raise NSTError(
            "The server returned a %dx%d image for a %dx%d layer."
            % (image.width(), image.height(), width, height)
        )
    if mask is not None:
        image = apply_mask(image, mask)
    return image_to_layer(image, channel_bytes)


def apply_mask(image, mask):
    """`image` (any format) with alpha multiplied by a Grayscale8 `mask` of the same size."""
    from .qt import QPainter

    data = image_bytes(mask.convertToFormat(QImage.Format.Format_Grayscale8))
    alpha = QImage(
        data, mask.width(), mask.height(), mask.bytesPerLine(), QImage.Format.Format_Alpha8
    )
    out = image.convertToFormat(QImage.Format.Format_ARGB32)
    painter = QPainter(out)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
    painter.drawImage(0, 0, alpha)
    painter.end()
    return out


def thumbnail(image, size: int):
    """An image scaled to fit a size x size box (smooth), for icons and previews."""
    from .qt import Qt

    return image.scaled(
        size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
