"""Thin wrappers around Krita's Document and Node: read a layer's pixels, insert a result.

Nothing here talks to the server. `read_source` captures everything a job needs (and which
node it came from); `insert_result` adds the stylised pixels as one new paint layer directly
above that node, leaving the source and the rest of the document untouched.
"""

from __future__ import annotations

from .errors import EmptyLayer, NoDocument, NSTError, TargetGone, UnsupportedLayer
from .pixels import (
    Rect,
    alpha_is_empty,
    check_format,
    context_margin,
    grow,
    intersect,
    is_empty,
    layer_to_image,
    mask_is_empty,
    mask_is_full,
    mask_to_image,
    rect_of,
    result_to_layer,
    to_png,
)

MASK_TYPES = ("transparencymask", "filtermask", "transformmask", "selectionmask", "colorizemask")
# Layers whose own pixels are the thing to stylise; for the others we use the projection.
OWN_PIXELS = ("paintlayer",)
NO_PIXELS = ("filterlayer",)


class Source:
    """The pixels of one layer (or of its selected part) as they were when the job began."""

    def __init__(self, doc, node, rect, image, mask=None):
        self.doc = doc
        self.node = node
        self.node_id = node.uniqueId()
        self.node_name = node.name()
        self.rect = rect
        self.image = image  # QImage Format_ARGB32, rect's size
        self.mask = mask  # QImage Format_Grayscale8 or None

    @property
    def content_png(self):
        return to_png(self.image) if self.image is not None else None  # None: a texture

    @property
    def mask_png(self):
        return to_png(self.mask) if self.mask is not None else None


def active_target(krita, why_a_layer="the document has no active layer."):
    """The active document and layer, or a clear error (`why_a_layer` ends its message when
    there is no active layer)."""
    doc = krita.activeDocument()
    if doc is None:
        raise NoDocument("Open an image first: there is no active document.")
    node = doc.activeNode()
    if node is None:
        raise NoDocument("Select a layer first: " + why_a_layer)
    return doc, node


def target_size(krita):
    """(width, height) of what a run would send, without reading pixels; None if unknown."""
    try:
        doc, node = active_target(krita)
        canvas = Rect(0, 0, doc.width(), doc.height())
        rect = intersect(rect_of(node.bounds()), canvas)
        selection = doc.selection()
        if selection is not None:
            box = Rect(selection.x(), selection.y(), selection.width(), selection.height())
            if not is_empty(box) and not is_empty(intersect(box, rect)):
                rect = intersect(grow(box, context_margin(box)), rect)
    except Exception:  # noqa: BLE001 - only an estimate: no size, no estimate
        return None
    return None if is_empty(rect) else (rect.width, rect.height)


def texture_target(krita) -> Source:
    """Where a texture goes: the selection's box (its shape as mask) or the whole canvas,
    in a new layer above the active one. No pixels are read: nothing is sent but a size."""
    doc, node = active_target(krita, "the texture goes in a new layer above it.")
    canvas = Rect(0, 0, doc.width(), doc.height())
    rect, mask = canvas, None
    selection = doc.selection()
    if selection is not None:
        box = intersect(
            Rect(selection.x(), selection.y(), selection.width(), selection.height()), canvas
        )
        data = bytes(selection.pixelData(*box)) if not is_empty(box) else b""
        if not is_empty(box) and not (box == canvas and mask_is_full(data)):
            if mask_is_empty(data):
                raise EmptyLayer("The selection is empty: select where the texture goes.")
            rect, mask = box, mask_to_image(data, box.width, box.height)
    if rect.width < 16 or rect.height < 16:
        raise EmptyLayer("The area is %dx%d px: a texture needs at least 16x16." % rect[2:])
    return Source(doc, node, rect, None, mask)


def read_source(doc, node) -> Source:
    kind = node.type()
    if kind in MASK_TYPES:
        raise UnsupportedLayer(
            "The active node '%s' is a mask. Select the layer to stylise." % node.name()
        )
    if kind in NO_PIXELS:
        raise UnsupportedLayer(
            "'%s' is a filter layer, which has no pixels of its own. Select a paint or group "
            "layer." % node.name()
        )
    channel_bytes = check_format(node.colorModel(), node.colorDepth())
    check_format(doc.colorModel(), doc.colorDepth())  # the new layer takes the document's
    canvas = Rect(0, 0, doc.width(), doc.height())
    bounds = intersect(rect_of(node.bounds()), canvas)  # bounds may extend past the canvas
    if is_empty(bounds):
        raise EmptyLayer("The layer '%s' is empty: there is nothing to stylise." % node.name())
    rect, mask = bounds, None
    selection = doc.selection()
    if selection is not None:
        rect, mask = _selected_part(selection, bounds, canvas, node.name())
    read = node.pixelData if kind in OWN_PIXELS else node.projectionPixelData
    data = bytes(read(rect.x, rect.y, rect.width, rect.height))
    if alpha_is_empty(data, channel_bytes):
        where = " inside the selection" if mask is not None else ""
        raise EmptyLayer(
            "The layer '%s' is fully transparent%s: there is nothing to stylise."
            % (node.name(), where)
        )
    image = layer_to_image(data, rect.width, rect.height, channel_bytes)
    return Source(doc, node, rect, image, mask)


def _selected_part(selection, bounds, canvas, layer_name):
    """(rect, mask): the selection's box plus some context, within the layer, and its mask."""
    box = Rect(selection.x(), selection.y(), selection.width(), selection.height())
    if is_empty(box):
        return bounds, None
    if box == canvas and mask_is_full(bytes(selection.pixelData(*canvas))):
        return bounds, None  # "select all" means the whole layer
    if is_empty(intersect(box, bounds)):
        raise EmptyLayer(
            "The selection does not overlap the layer '%s'. Select part of the layer, or "
            "deselect (Ctrl+Shift+A) to stylise all of it." % layer_name
        )
    rect = intersect(grow(box, context_margin(box)), bounds)
    data = bytes(selection.pixelData(rect.x, rect.y, rect.width, rect.height))
    if mask_is_empty(data):
        raise EmptyLayer("The selection is empty where the layer has pixels.")
    return rect, mask_to_image(data, rect.width, rect.height)


def is_alive(krita, source) -> bool:
    """Whether the source's document is still open and its layer still in it."""
    if not any(doc == source.doc for doc in krita.documents()):
        return False
    finder = getattr(source.doc, "nodeByUniqueID", None)
    if finder is not None and finder(source.node_id) is None:
        return False
    return source.node.parentNode() is not None


def insert_result(krita, source, png: bytes, name: str):
    """Add the result as a new paint layer above the source: one undo step. Returns it."""
    if not is_alive(krita, source):
        raise TargetGone(
            "The document or the layer '%s' was closed or deleted while the style transfer "
            "ran, so the result was not added." % source.node_name
        )
    doc, node, rect = source.doc, source.node, source.rect
    channel_bytes = check_format(doc.colorModel(), doc.colorDepth())
    data = result_to_layer(png, rect.width, rect.height, channel_bytes, source.mask)
    active = doc.activeNode()
    layer = doc.createNode(name, "paintlayer")
    # Filled before insertion: adding the node is the single undoable step.
    layer.setPixelData(data, rect.x, rect.y, rect.width, rect.height)
    parent = node.parentNode()
    if not parent.addChildNode(layer, node):
        raise NSTError("Krita refused to add the layer '%s'." % name)
    if active is not None:
        doc.setActiveNode(active)
    doc.refreshProjection()
    return layer


def layer_name(style_names, prefix="Style") -> str:
    names = [n for n in style_names if n] or ["style"]
    return prefix + ": " + " + ".join(names)
