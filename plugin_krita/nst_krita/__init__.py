"""Neural Style Transfer for Krita: stylise the active layer with a local server.

Krita imports this package at start-up. Outside Krita (tests, tools) importing it does
nothing but define the version guard, so its modules can be used on their own.
"""

from __future__ import annotations

import sys

MIN_PYTHON = (3, 8)
MIN_KRITA = (5, 0)
__version__ = "0.1.0"


def unsupported_reason(python=None, krita_version=None):
    """Why this Python/Krita cannot run the plugin, or None when it can."""
    python = python or sys.version_info[:2]
    if tuple(python) < MIN_PYTHON:
        return (
            "Neural Style Transfer needs Krita with Python %d.%d or newer (this one has %d.%d)."
            % (MIN_PYTHON + tuple(python[:2]))
        )
    if krita_version:
        try:
            numbers = tuple(int(p) for p in krita_version.split("-")[0].split(".")[:2])
        except ValueError:
            numbers = MIN_KRITA
        if numbers < MIN_KRITA:
            return "Neural Style Transfer needs Krita %d.%d or newer (this is %s)." % (
                MIN_KRITA + (krita_version,)
            )
    return None


def _register():
    from krita import Krita  # only present inside Krita

    krita = Krita.instance()
    reason = unsupported_reason(krita_version=krita.version())
    if reason:
        # Shown by Krita's Python Plugin Manager next to the plugin's name.
        raise ImportError(reason)
    from .extension import NSTExtension

    krita.addExtension(NSTExtension(krita))


try:
    import krita as _krita_module  # noqa: F401
except ImportError:
    _krita_module = None

if (
    _krita_module is not None
    and hasattr(_krita_module, "Krita")
    and not getattr(_krita_module, "IS_FAKE", False)
):
    _register()
