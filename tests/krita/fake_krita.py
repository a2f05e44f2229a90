"""A small stand-in for Krita's `krita` module, enough for the plugin's logic in unit tests.

Layers keep full-canvas 8-bit BGRA (or 16-bit) buffers; `bounds()` is the exact box of
non-default pixels, as in Krita. Only what the plugin calls is here.
"""

from __future__ import annotations

import uuid

from nst_krita.qt import QImage, QObject, QRect, QtCore

QUuid = QtCore.QUuid

IS_FAKE = True


class Extension(QObject):
    def __init__(self, parent=None):
        super().__init__(parent)


class Selection:
    def __init__(self, width, height, data=None):
        self._w, self._h = width, height
        self.data = bytearray(data if data is not None else bytes(width * height))

    def select(self, x, y, w, h, value=255):
        for row in range(max(0, y), min(self._h, y + h)):
            start = row * self._w
            for col in range(max(0, x), min(self._w, x + w)):
                self.data[start + col] = value

    def _box(self):
        xs, ys = [], []
        for i, v in enumerate(self.data):
            if v:
                xs.append(i % self._w)
                ys.append(i // self._w)
        if not xs:
            return 0, 0, 0, 0
        return min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1

    def x(self):
        return self._box()[0]

    def y(self):
        return self._box()[1]

    def width(self):
        return self._box()[2]

    def height(self):
        return self._box()[3]

    def pixelData(self, x, y, w, h):
        out = bytearray(w * h)
        for row in range(h):
            for col in range(w):
                sx, sy = x + col, y + row
                if 0 <= sx < self._w and 0 <= sy < self._h:
                    out[row * w + col] = self.data[sy * self._w + sx]
        return bytes(out)


class Node:
    def __init__(self, doc, name, kind="paintlayer", depth=None):
        self.doc = doc
        self._name = name
        self._type = kind
        self._depth = depth or doc._depth
        self._model = doc._model
        self._id = QUuid(str(uuid.uuid4()))
        self.parent = None
        self.children = []
        self.bpp = 4 * (2 if self._depth == "U16" else 1)
        # Pixels may live outside the canvas too: a dict (x, y) -> pixel bytes.
        self.pixels = {}

    # identity / tree
    def name(self):
        return self._name

    def type(self):
        return self._type

    def uniqueId(self):
        return self._id

    def colorModel(self):
        return self._model

    def colorDepth(self):
        return self._depth

    def parentNode(self):
        return self.parent

    def childNodes(self):
        return list(self.children)

    def addChildNode(self, child, above):
        index = self.children.index(above) + 1 if above is not None else len(self.children)
        self.children.insert(index, child)
        child.parent = self
        self.doc.undo_stack.append(("add", child))
        return True

    def remove(self):
        self.parent.children.remove(self)
        self.parent = None
        return True

    # pixels
    def bounds(self):
        if self._type == "grouplayer":
            rects = [c.bounds() for c in self.children]
            box = QRect()
            for r in rects:
                box = box.united(r)
            return box
        # As Krita's exactBounds: every pixel that differs from the default (all zero), so
        # coloured but fully transparent pixels count.
        opaque = [xy for xy, px in self.pixels.items() if any(px)]
        if not opaque:
            return QRect()
        xs = [p[0] for p in opaque]
        ys = [p[1] for p in opaque]
        return QRect(min(xs), min(ys), max(xs) - min(xs) + 1, max(ys) - min(ys) + 1)

    def setPixelData(self, data, x, y, w, h):
        assert len(data) == w * h * self.bpp, "setPixelData: wrong buffer size"
        for row in range(h):
            for col in range(w):
                i = (row * w + col) * self.bpp
                self.pixels[(x + col, y + row)] = bytes(data[i : i + self.bpp])
        self.doc.pixel_writes.append((self, x, y, w, h))
        return True

    def pixelData(self, x, y, w, h):
        blank = bytes(self.bpp)
        return b"".join(
            self.pixels.get((x + col, y + row), blank) for row in range(h) for col in range(w)
        )

    def projectionPixelData(self, x, y, w, h):
        if self._type != "grouplayer":
            return self.pixelData(x, y, w, h)
        # Good enough for tests: the topmost child with a pixel wins.
        blank = bytes(self.bpp)
        out = []
        for row in range(h):
            for col in range(w):
                px = blank
                for child in reversed(self.children):
                    value = child.pixels.get((x + col, y + row))
                    if value and any(value[3 * self.bpp // 4 :]):
                        px = value
                        break
                out.append(px)
        return b"".join(out)


class Document:
    def __init__(self, width, height, model="RGBA", depth="U8", name="test", path=""):
        self._w, self._h = width, height
        self._model, self._depth = model, depth
        self._name, self._path = name, path
        self.root = Node(self, "root", "grouplayer")
        self.active = None
        self._selection = None
        self.undo_stack = []
        self.pixel_writes = []
        self.refreshes = 0

    def width(self):
        return self._w

    def height(self):
        return self._h

    def name(self):
        return self._name

    def fileName(self):
        return self._path

    def colorModel(self):
        return self._model

    def colorDepth(self):
        return self._depth

    def rootNode(self):
        return self.root

    def activeNode(self):
        return self.active

    def setActiveNode(self, node):
        self.active = node

    def selection(self):
        return self._selection

    def setSelection(self, selection):
        self._selection = selection

    def createNode(self, name, kind):
        return Node(self, name, kind)

    def add_layer(self, name, kind="paintlayer", above=None, parent=None):
        node = Node(self, name, kind)
        (parent or self.root).addChildNode(node, above)
        self.undo_stack.clear()
        return node

    def nodeByUniqueID(self, uid):
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.uniqueId() == uid:
                return node
            stack.extend(node.children)
        return None

    def refreshProjection(self):
        self.refreshes += 1

    def pixelData(self, x, y, w, h):
        return self.root.projectionPixelData(x, y, w, h)

    def thumbnail(self, w, h):
        return QImage(w, h, QImage.Format.Format_ARGB32)


class Krita(QObject):
    _instance = None

    def __init__(self):
        super().__init__()
        self.docs = []
        self.active_doc = None
        self.settings = {}

    @classmethod
    def instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @classmethod
    def reset(cls):
        cls._instance = cls()
        return cls._instance

    def version(self):
        return "5.1.5"

    def documents(self):
        return list(self.docs)

    def activeDocument(self):
        return self.active_doc

    def activeWindow(self):
        return None

    def readSetting(self, group, key, default):
        return self.settings.get((group, key), default)

    def writeSetting(self, group, key, value):
        assert isinstance(value, str), "Krita settings are strings"
        self.settings[(group, key)] = value

    def open(self, doc):
        self.docs.append(doc)
        self.active_doc = doc
        return doc
