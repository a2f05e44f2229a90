"""Turning the parts of a multipart upload into checked images and params.

Everything stays in memory: the client's file names are never used and nothing is written
to disk. Every image is checked completely before the job is accepted, so a damaged file is
refused at once (400): PNGs by their chunk checksums (a millisecond for a 2048x2048 canvas,
where decoding takes ~150 ms), other formats by decoding them. PNGs are decoded later by the
worker, which keeps the 202 answer fast and queued jobs small (compressed bytes).
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

import nst
from nst.device import pick_precision
from server.errors import ApiError

READABLE = "PNG, JPEG, WebP, TIFF or BMP"
SERVER_WEIGHTS = ("caffe", "torchvision")
_TURNED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


class CheckedImage:
    """An uploaded image whose header, size and integrity are checked; `open()` decodes it."""

    def __init__(
        self, data: bytes, what: str, size: tuple[int, int], image: Image.Image | None = None
    ):
        self.data = data
        self.what = what
        self.size = size  # as displayed, EXIF orientation applied
        self._image = image  # already decoded (formats without a cheap integrity check)

    def open(self) -> Image.Image:
        """The decoded image. Raises nst.ImageError if it cannot be decoded after all."""
        if self._image is not None:
            return self._image
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(self.data))
                image.load()
        except Exception as exc:  # any decoder failure means a damaged image
            raise nst.ImageError(f"the {self.what} is damaged ({exc})") from None
        return _upright(image)


def check_image(part: FileStorage, what: str, max_pixels: int) -> CheckedImage:
    """Check one uploaded file; refuse non-images, damaged, empty and oversized ones."""
    data = part.stream.read()
    if not data:
        raise ApiError(400, "invalid_image", f"the {what} is an empty file", field=part.name)
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own bomb limit; our limit is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_size(image, what, max_pixels, part.name)
            if image.format == "PNG":
                image.verify()  # every chunk's CRC, up to IEND: finds truncation and damage
                size = _upright_size(Image.open(io.BytesIO(data)))  # verify() used it up
                return CheckedImage(data, what, size)
            image.load()
    except ApiError:
        raise
    except Image.DecompressionBombError:
        raise ApiError(
            413,
            "too_many_pixels",
            f"the {what} declares a huge pixel count and was refused",
            field=part.name,
        ) from None
    except UnidentifiedImageError:
        raise ApiError(
            400,
            "invalid_image",
            f"the {what} is not an image this server can read ({READABLE})",
            field=part.name,
        ) from None
    except Exception as exc:  # Pillow raises IndexError, struct.error... on damaged data
        raise ApiError(
            400, "invalid_image", f"the {what} is damaged or truncated ({exc})", field=part.name
        ) from None
    image = _upright(image)
    return CheckedImage(data, what, image.size, image)


def _upright(image: Image.Image) -> Image.Image:
    if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation: turn it as viewers show it
        image = ImageOps.exif_transpose(image)
    return image


def _upright_size(png: Image.Image) -> tuple[int, int]:
    """Displayed size of a PNG from its header. Not png.getexif(): that decodes the pixels
    to look for EXIF after them (rare, and then the worker finds it when it decodes)."""
    exif = Image.Exif()
    if png.info.get("exif"):
        exif.load(png.info["exif"])
    w, h = png.size
    return (h, w) if exif.get(0x0112, 1) in _TURNED else (w, h)


def _check_size(image: Image.Image, what: str, max_pixels: int, field: str | None) -> None:
    w, h = image.size
    if w < 1 or h < 1:
        raise ApiError(400, "invalid_image", f"the {what} is empty ({w}x{h} pixels)", field=field)
    if w * h > max_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"the {what} is {w}x{h} = {w * h / 1e6:.1f} megapixels; this server accepts at most "
            f"{max_pixels / 1e6:.1f} megapixels per image (see --max-pixels): downscale it first",
            field=field,
        )


def parse_params(raw: str | None, device: Any, styles: int | None) -> nst.Params:
    """Validate the `params` form field (a JSON object) for this server's device; `styles`,
    when given, is the number of style images sent (style_blend needs one weight each)."""
    if raw is None or not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ApiError(
                400, "invalid_params", f"params is not valid JSON ({exc})", field="params"
            ) from None
    if not isinstance(data, dict):
        raise ApiError(
            400,
            "invalid_params",
            'params must be a JSON object, e.g. {"quality": "draft"}',
            field="params",
        )
    try:
        params = nst.Params.from_dict(data)
    except nst.ParamsError as exc:
        raise ApiError(
            400, "invalid_params", f"{exc.field}: {exc.message}", field=exc.field
        ) from None
    except (TypeError, ValueError) as exc:  # a value of a shape validation did not foresee
        raise ApiError(400, "invalid_params", f"params: {exc}", field="params") from None
    return _fit_to_server(params, device, styles)


def _fit_to_server(params: nst.Params, device: Any, styles: int | None) -> nst.Params:
    # The server owns its device and never opens files named by a client.
    if params.weights not in SERVER_WEIGHTS:
        raise ApiError(
            400,
            "invalid_params",
            "weights: this server accepts 'caffe' or 'torchvision'; file paths are not read "
            "from HTTP requests",
            field="weights",
        )
    if params.device not in ("auto", device.type):
        raise ApiError(
            400,
            "invalid_params",
            f"device: this server runs on {device.type}; leave device out or use 'auto'",
            field="device",
        )
    try:
        pick_precision(params.precision, device)
    except RuntimeError as exc:
        raise ApiError(400, "invalid_params", f"precision: {exc}", field="precision") from None
    if styles is not None and params.style_blend is not None and len(params.style_blend) != styles:
        raise ApiError(
            400,
            "invalid_params",
            f"style_blend: has {len(params.style_blend)} weights but {styles} style image(s) "
            "were sent; give one weight per style",
            field="style_blend",
        )
    return params.replace(device=str(device))
