"""A minimal PNG writer (8 bits a channel) for the pixels GIMP hands out: standard library only."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA


def encode(width: int, height: int, channels: int, data: bytes, level: int = 6) -> bytes:
    """Rows of `channels` bytes a pixel, top to bottom, no padding -> PNG file bytes."""
    stride = width * channels
    if width < 1 or height < 1 or len(data) != stride * height:
        raise ValueError(
            "%d bytes do not make a %dx%d image of %d channels"
            % (len(data), width, height, channels)
        )
    rows = b"".join(b"\x00" + data[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, COLOR_TYPES[channels], 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, level))
        + (_chunk(b"IEND", b""))
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
