"""Krita plugin: pixel conversions (BGRA <-> QImage <-> PNG), format checks, rectangles."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import plugin_env  # noqa: E402

APP = plugin_env.setup()

from nst_krita import pixels  # noqa: E402
from nst_krita.errors import NSTError, UnsupportedLayer  # noqa: E402
from PIL import Image  # noqa: E402

Rect = pixels.Rect


def pixels_of(image):
    """Pixel tuples of a Pillow image (getdata() is deprecated)."""
    bands = len(image.getbands())
    data = image.tobytes()
    if bands == 1:
        return data
    return [tuple(data[i : i + bands]) for i in range(0, len(data), bands)]


def bgra(pixels_rgba):
    return b"".join(bytes((b, g, r, a)) for r, g, b, a in pixels_rgba)


def test_bgra_layer_to_png_keeps_colours_and_unpremultiplied_alpha():
    rgba = [
        (255, 0, 0, 255),
        (10, 200, 30, 128),
        (7, 8, 9, 0),
        (0, 0, 255, 1),
        (1, 2, 3, 4),
        (250, 251, 252, 253),
    ]
    image = pixels.layer_to_image(bgra(rgba), 3, 2)
    decoded = Image.open(io.BytesIO(pixels.to_png(image)))
    assert decoded.mode == "RGBA" and decoded.size == (3, 2)
    got = pixels_of(decoded)
    # Fully transparent pixels may lose their colour in PNG; everything else is exact.
    assert [p for p in got if p[3]] == [p for p in rgba if p[3]]
    assert [p[3] for p in got] == [p[3] for p in rgba]


def test_png_result_to_layer_bytes_is_bgra_in_row_order():
    source = Image.new("RGBA", (2, 2))
    source.putdata([(1, 2, 3, 255), (4, 5, 6, 100), (7, 8, 9, 50), (200, 100, 0, 255)])
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    data = pixels.result_to_layer(buffer.getvalue(), 2, 2)
    assert data == bgra(pixels_of(source))


def test_rgb_png_result_becomes_opaque_bgra():
    buffer = io.BytesIO()
    Image.new("RGB", (3, 1), (9, 99, 199)).save(buffer, "PNG")
    assert pixels.result_to_layer(buffer.getvalue(), 3, 1) == bytes((199, 99, 9, 255)) * 3


def test_result_of_the_wrong_size_is_refused():
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4)).save(buffer, "PNG")
    with pytest.raises(NSTError, match="4x4 image for a 5x4 layer"):
        pixels.result_to_layer(buffer.getvalue(), 5, 4)


def test_garbage_result_is_refused_with_a_message():
    with pytest.raises(NSTError, match="not a valid PNG"):
        pixels.result_to_layer(b"<html>oops</html>", 2, 2)


def test_sixteen_bit_layers_round_trip_through_8_bit():
    # U16 BGRA: each channel little-endian; 257 * v is exactly v in 8 bits.
    values = [(10, 20, 30, 255), (200, 0, 100, 128)]
    data = b"".join(
        b"".join((257 * c).to_bytes(2, "little") for c in (b, g, r, a)) for r, g, b, a in values
    )
    image = pixels.layer_to_image(data, 2, 1, channel_bytes=2)
    decoded = Image.open(io.BytesIO(pixels.to_png(image)))
    assert pixels_of(decoded) == values
    back = pixels.image_to_layer(image, channel_bytes=2)
    assert back == data


def test_wrong_buffer_length_is_reported():
    with pytest.raises(NSTError, match="expected 16"):
        pixels.layer_to_image(b"\0" * 15, 2, 2)


@pytest.mark.parametrize(
    "model, depth, words",
    [
        ("RGBA", "F32", "32-bit float"),
        ("CMYKA", "U8", "CMYKA"),
        ("GRAYA", "U8", "GRAYA"),
        ("RGBA", "F16", "16-bit float"),
    ],
)
def test_unsupported_formats_are_refused_with_what_to_do(model, depth, words):
    with pytest.raises(UnsupportedLayer) as info:
        pixels.check_format(model, depth)
    assert words in str(info.value) and "Convert Image Color Space" in str(info.value)


def test_supported_formats():
    assert pixels.check_format("RGBA", "U8") == 1
    assert pixels.check_format("RGBA", "U16") == 2


def test_mask_becomes_a_grayscale_png():
    data = bytes([0, 64, 255, 128, 0, 1])
    decoded = Image.open(io.BytesIO(pixels.to_png(pixels.mask_to_image(data, 3, 2))))
    assert decoded.mode == "L" and decoded.size == (3, 2)
    assert pixels_of(decoded) == data


def test_mask_with_unpadded_odd_width_keeps_rows_aligned():
    # Width 5 is not a multiple of 4: QImage pads rows, the mask must not shear.
    data = bytes(range(0, 250, 10))
    decoded = Image.open(io.BytesIO(pixels.to_png(pixels.mask_to_image(data, 5, 5))))
    assert pixels_of(decoded) == data


def test_alpha_emptiness():
    assert pixels.alpha_is_empty(bgra([(255, 255, 255, 0)] * 4))
    assert not pixels.alpha_is_empty(bgra([(0, 0, 0, 0)] * 3 + [(0, 0, 0, 1)]))
    assert pixels.alpha_is_empty(bytes(16), channel_bytes=2)
    assert not pixels.alpha_is_empty(bytes(7) + b"\x01" + bytes(8), channel_bytes=2)


def test_rectangles():
    canvas = Rect(0, 0, 100, 80)
    assert pixels.intersect(Rect(-10, -5, 50, 50), canvas) == Rect(0, 0, 40, 45)
    assert pixels.intersect(Rect(90, 70, 50, 50), canvas) == Rect(90, 70, 10, 10)
    assert pixels.is_empty(pixels.intersect(Rect(200, 0, 5, 5), canvas))
    assert pixels.grow(Rect(10, 10, 5, 5), 3) == Rect(7, 7, 11, 11)
    assert pixels.context_margin(Rect(0, 0, 400, 100)) == 50
    assert pixels.context_margin(Rect(0, 0, 10, 10)) == 16


def test_png_upload_is_lossless_and_compressed():
    """The layer is encoded fast (zlib level 1) but still compressed, and exactly."""
    gradient = Image.linear_gradient("L").resize((256, 256))
    source = Image.merge("RGBA", (gradient, gradient.rotate(90), gradient, gradient))
    image = pixels.layer_to_image(bgra(pixels_of(source)), 256, 256)
    data = pixels.to_png(image)
    assert pixels_of(Image.open(io.BytesIO(data))) == pixels_of(source)
    assert len(data) < 256 * 256 * 4 / 4  # raw RGBA is 256 KiB
