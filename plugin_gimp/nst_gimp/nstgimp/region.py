"""Which part of a layer goes to the server: all of it, or a selection with some context."""

from __future__ import annotations

from collections import namedtuple

Rect = namedtuple("Rect", "x y width height")


def intersect(a: Rect, b: Rect) -> Rect:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1 = min(a.x + a.width, b.x + b.width)
    y1 = min(a.y + a.height, b.y + b.height)
    return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def grow(rect: Rect, margin: int) -> Rect:
    return Rect(rect.x - margin, rect.y - margin, rect.width + 2 * margin, rect.height + 2 * margin)


def context_margin(rect: Rect) -> int:
    """Context kept around a selection so the style sees the neighbourhood (as in Krita)."""
    return max(16, (max(rect.width, rect.height) + 7) // 8)


def with_context(selection: Rect, layer: Rect) -> Rect:
    """The selection's box grown by the context margin, kept within the layer."""
    return intersect(grow(selection, context_margin(selection)), layer)


def mask_is_empty(mask: bytes) -> bool:
    return not any(mask)
