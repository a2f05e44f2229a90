"""Krita plugin: reading the active layer (bounds, selection -> mask) and inserting results."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import plugin_env  # noqa: E402

APP = plugin_env.setup()

import fake_krita  # noqa: E402
from nst_krita import document  # noqa: E402
from nst_krita.errors import EmptyLayer, TargetGone, UnsupportedLayer  # noqa: E402
from nst_krita.pixels import Rect  # noqa: E402
from PIL import Image  # noqa: E402

RED = bytes((0, 0, 255, 255))  # BGRA


def fill(node, x, y, w, h, pixel=RED):
    node.setPixelData(pixel * (w * h), x, y, w, h)


def png(width, height, rgba=(0, 255, 0, 200)):
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), rgba).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture()
def krita():
    return fake_krita.Krita.reset()


@pytest.fixture()
def doc(krita):
    doc = krita.open(fake_krita.Document(40, 30))
    doc.background = doc.add_layer("Background")
    fill(doc.background, 0, 0, 40, 30, bytes((255, 255, 255, 255)))
    doc.subject = doc.add_layer("Subject", above=doc.background)
    doc.top = doc.add_layer("Top", above=doc.subject)
    fill(doc.subject, 5, 4, 10, 8)
    doc.setActiveNode(doc.subject)
    doc.pixel_writes.clear()
    return doc


def test_reads_the_layer_at_its_exact_bounds(doc):
    source = document.read_source(doc, doc.subject)
    assert source.rect == Rect(5, 4, 10, 8)
    assert source.mask is None
    image = Image.open(io.BytesIO(source.content_png))
    assert image.size == (10, 8) and image.getpixel((0, 0)) == (255, 0, 0, 255)


def test_bounds_past_the_canvas_are_clamped(doc):
    fill(doc.subject, 35, 25, 10, 10)  # sticks out right and bottom
    fill(doc.subject, -3, -2, 4, 4)  # and top-left
    source = document.read_source(doc, doc.subject)
    assert source.rect == Rect(0, 0, 40, 30)
    assert source.image.width() == 40 and source.image.height() == 30


def test_empty_and_transparent_layers_are_refused(doc):
    with pytest.raises(EmptyLayer, match="'Top' is empty"):
        document.read_source(doc, doc.top)
    outside = doc.add_layer("Outside")
    fill(outside, 50, 50, 5, 5)  # only off-canvas pixels
    with pytest.raises(EmptyLayer, match="empty"):
        document.read_source(doc, outside)


def test_transparent_pixels_are_refused(doc):
    clear = doc.add_layer("Clear")
    fill(clear, 0, 0, 4, 4, bytes((0, 0, 255, 0)))  # coloured but fully transparent
    with pytest.raises(EmptyLayer) as info:
        document.read_source(doc, clear)
    assert str(info.value) == (
        "The layer 'Clear' is fully transparent: there is nothing to stylise."
    )
    selection = fake_krita.Selection(40, 30)
    selection.select(30, 20, 5, 5)
    doc.setSelection(selection)
    big = doc.add_layer("Big")
    fill(big, 0, 0, 40, 30, bytes((0, 0, 255, 0)))
    fill(big, 0, 0, 2, 2)  # visible pixels far from the selection
    with pytest.raises(EmptyLayer) as info:
        document.read_source(doc, big)
    assert str(info.value) == (
        "The layer 'Big' is fully transparent inside the selection: there is nothing to stylise."
    )


def test_masks_and_filter_layers_are_refused_with_a_reason(doc):
    mask = doc.add_layer("Transparency Mask", kind="transparencymask")
    with pytest.raises(UnsupportedLayer, match="is a mask"):
        document.read_source(doc, mask)
    with pytest.raises(UnsupportedLayer, match="filter layer"):
        document.read_source(doc, doc.add_layer("Levels", kind="filterlayer"))


def test_float_documents_are_refused(krita):
    doc = krita.open(fake_krita.Document(8, 8, depth="F32"))
    layer = doc.add_layer("Paint")
    layer.pixels[(0, 0)] = b"\x00" * 12 + b"\x00\x00\x80\x3f"
    with pytest.raises(UnsupportedLayer, match="32-bit float"):
        document.read_source(doc, layer)


def test_group_layers_use_their_projection(doc):
    group = doc.add_layer("Group", kind="grouplayer", above=doc.top)
    child = doc.add_layer("Child", parent=group)
    fill(child, 20, 10, 4, 3, bytes((255, 0, 0, 255)))  # blue
    source = document.read_source(doc, group)
    assert source.rect == Rect(20, 10, 4, 3)
    assert Image.open(io.BytesIO(source.content_png)).getpixel((1, 1)) == (0, 0, 255, 255)


def test_selection_sends_its_box_with_context_and_a_mask(doc):
    big = doc.add_layer("Big")
    fill(big, 0, 0, 40, 30)
    selection = fake_krita.Selection(40, 30)
    selection.select(18, 12, 4, 3, 255)
    selection.select(22, 12, 1, 3, 128)  # a soft edge
    doc.setSelection(selection)
    source = document.read_source(doc, big)
    # Box (18,12,5,3), grown by 16 px of context, clamped to the layer (the canvas).
    assert source.rect == Rect(2, 0, 37, 30)
    mask = Image.open(io.BytesIO(source.mask_png))
    assert mask.mode == "L" and mask.size == (37, 30)
    assert mask.getpixel((16, 12)) == 255 and mask.getpixel((20, 12)) == 128
    assert mask.getpixel((0, 0)) == 0 and mask.getpixel((15, 12)) == 0


def test_select_all_means_the_whole_layer(doc):
    selection = fake_krita.Selection(40, 30)
    selection.select(0, 0, 40, 30, 255)
    doc.setSelection(selection)
    source = document.read_source(doc, doc.subject)
    assert source.mask is None and source.rect == Rect(5, 4, 10, 8)


def test_selection_away_from_the_layer_is_refused(doc):
    selection = fake_krita.Selection(40, 30)
    selection.select(30, 20, 5, 5)
    doc.setSelection(selection)
    with pytest.raises(EmptyLayer, match="does not overlap"):
        document.read_source(doc, doc.subject)


def test_result_goes_into_a_new_layer_directly_above_the_source(krita, doc):
    doc.setActiveNode(doc.top)  # the user moved on while the job ran
    source = document.read_source(doc, doc.subject)
    before = doc.subject.pixelData(0, 0, 40, 30)
    layer = document.insert_result(krita, source, png(10, 8), "Style: starry_night")
    names = [n.name() for n in doc.rootNode().childNodes()]
    assert names == ["Background", "Subject", "Style: starry_night", "Top"]
    assert layer.type() == "paintlayer" and layer.name() == "Style: starry_night"
    assert layer.bounds().getRect() == (5, 4, 10, 8)
    assert layer.pixelData(5, 4, 1, 1) == bytes((0, 255, 0, 200))
    # Filled before it was inserted: the insertion is the one undoable step.
    assert doc.pixel_writes == [(layer, 5, 4, 10, 8)]
    assert doc.undo_stack == [("add", layer)]
    assert doc.subject.pixelData(0, 0, 40, 30) == before
    assert doc.activeNode() is doc.top
    assert doc.refreshes == 1


def test_result_lands_in_the_same_group_as_the_source(krita, doc):
    group = doc.add_layer("Group", kind="grouplayer", above=doc.top)
    first = doc.add_layer("A", parent=group)
    second = doc.add_layer("B", parent=group, above=first)
    fill(first, 1, 1, 3, 3)
    source = document.read_source(doc, first)
    document.insert_result(krita, source, png(3, 3), "Style: x")
    assert [n.name() for n in group.childNodes()] == ["A", "Style: x", "B"]
    assert second.parentNode() is group


def test_nothing_is_inserted_when_the_layer_went_away(krita, doc):
    source = document.read_source(doc, doc.subject)
    doc.subject.remove()
    with pytest.raises(TargetGone, match="'Subject' was closed or deleted"):
        document.insert_result(krita, source, png(10, 8), "Style: x")
    assert [n.name() for n in doc.rootNode().childNodes()] == ["Background", "Top"]


def test_nothing_is_inserted_when_the_document_was_closed(krita, doc):
    source = document.read_source(doc, doc.subject)
    krita.docs.remove(doc)
    with pytest.raises(TargetGone):
        document.insert_result(krita, source, png(10, 8), "Style: x")
    assert len(doc.rootNode().childNodes()) == 3 and doc.pixel_writes == []


def test_layer_names():
    assert document.layer_name(["starry_night"]) == "Style: starry_night"
    assert document.layer_name(["a", "b"]) == "Style: a + b"
    assert document.layer_name([]) == "Style: style"


def test_active_target_errors(krita):
    from nst_krita.errors import NoDocument

    with pytest.raises(NoDocument, match="Open an image"):
        document.active_target(krita)


def test_with_a_selection_the_new_layer_is_transparent_outside_it(krita, doc):
    selection = fake_krita.Selection(40, 30)
    selection.select(7, 6, 3, 2, 255)
    selection.select(10, 6, 1, 2, 128)
    doc.setSelection(selection)
    source = document.read_source(doc, doc.subject)
    assert source.rect == Rect(5, 4, 10, 8)
    layer = document.insert_result(krita, source, png(10, 8, (0, 255, 0, 255)), "Style: x")
    assert layer.pixelData(7, 6, 1, 1) == bytes((0, 255, 0, 255))
    assert layer.pixelData(10, 6, 1, 1)[3] == 128
    assert layer.pixelData(6, 6, 1, 1)[3] == 0 and layer.pixelData(5, 4, 1, 1)[3] == 0
    assert layer.bounds().getRect() == (7, 6, 4, 2)


# -- textures -------------------------------------------------------------------------------
def test_texture_fills_the_canvas_above_the_active_layer(krita, doc):
    source = document.texture_target(krita)
    assert source.rect == Rect(0, 0, 40, 30) and source.mask is None
    assert source.content_png is None  # nothing is read: a texture job sends only a size
    layer = document.insert_result(krita, source, png(40, 30), "Texture: starry_night")
    names = [n.name() for n in doc.rootNode().childNodes()]
    assert names == ["Background", "Subject", "Texture: starry_night", "Top"]
    assert layer.bounds().getRect() == (0, 0, 40, 30)


def test_texture_in_a_selection_takes_its_box_and_shape(krita, doc):
    selection = fake_krita.Selection(40, 30)
    selection.select(20, 10, 18, 16, 255)
    selection.select(20, 10, 2, 2, 0)  # a notch in the corner
    doc.setSelection(selection)
    source = document.texture_target(krita)
    assert source.rect == Rect(20, 10, 18, 16) and source.mask is not None
    layer = document.insert_result(krita, source, png(18, 16, (0, 255, 0, 255)), "Texture: x")
    assert layer.pixelData(30, 20, 1, 1) == bytes((0, 255, 0, 255))
    assert layer.pixelData(20, 10, 1, 1)[3] == 0  # the notch stays empty


def test_texture_needs_a_document_and_room(krita, doc):
    selection = fake_krita.Selection(40, 30)
    selection.select(0, 0, 8, 8, 255)
    doc.setSelection(selection)
    with pytest.raises(EmptyLayer, match="at least 16x16"):
        document.texture_target(krita)
