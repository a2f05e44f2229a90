"""The dialog's settings, persisted in Krita's own config (kritarc, group [nst_krita]).

Never inside the pykrita folder: reinstalling the plugin replaces that folder. Values are
stored as strings (JSON for lists) so any store with read/write of strings works; tests use
`MemoryStore`.
"""

from __future__ import annotations

import json

from .client import DEFAULT_SERVER

GROUP = "nst_krita"
QUALITIES = ("draft", "normal", "high", "full")
PRESERVE = ("none", "luminance", "histogram")
MAX_RECENT = 12

MODES = ("managed", "external")

DEFAULTS = {
    "mode": "managed",  # managed: Krita starts its own server; external: `server` below
    "python": "",  # managed: the server's Python; "" = the one install.py recorded
    "server": DEFAULT_SERVER,
    "token": "",
    "strength": 50,  # slider 0..100; 50 = the engine's default style weight
    "quality": "normal",
    "size": 0,  # long edge of the working size; 0 = from the quality preset
    "brush_size": 100,  # percent: the style image's size relative to the working size
    "preserve_colors": "none",
    "seed": 0,
    "tileable": False,  # textures: repeat seamlessly
    "recent_styles": [],  # file paths, newest first
    "last_styles": [],  # [{"file": path} | {"document": name}] of the last run
}


class KritaStore:
    def __init__(self, krita):
        self.krita = krita

    def read(self, key, default):
        return self.krita.readSetting(GROUP, key, default)

    def write(self, key, value):
        self.krita.writeSetting(GROUP, key, value)


class MemoryStore:
    def __init__(self):
        self.data = {}

    def read(self, key, default):
        return self.data.get(key, default)

    def write(self, key, value):
        self.data[key] = value


class Settings:
    def __init__(self, **values):
        for key, default in DEFAULTS.items():
            value = values.get(key, default)
            setattr(self, key, list(value) if isinstance(value, list) else value)

    @classmethod
    def load(cls, store) -> "Settings":
        values = {}
        for key, default in DEFAULTS.items():
            raw = store.read(key, "")
            if raw in ("", None):
                continue
            try:
                values[key] = _parse(raw, default)
            except (ValueError, TypeError):
                continue  # a damaged entry falls back to its default
        settings = cls(**values)
        settings._clamp()
        return settings

    def save(self, store) -> None:
        for key, default in DEFAULTS.items():
            value = getattr(self, key)
            store.write(key, json.dumps(value) if isinstance(default, list) else str(value))

    def _clamp(self):
        self.strength = min(100, max(0, int(self.strength)))
        if self.quality not in QUALITIES:
            self.quality = DEFAULTS["quality"]
        if self.mode not in MODES:
            self.mode = DEFAULTS["mode"]
        if self.preserve_colors not in PRESERVE:
            self.preserve_colors = DEFAULTS["preserve_colors"]
        self.size = 0 if not 32 <= int(self.size) <= 8192 else int(self.size)
        self.brush_size = min(400, max(25, int(self.brush_size)))
        self.seed = min(2**32 - 1, max(0, int(self.seed)))
        self.recent_styles = [p for p in self.recent_styles if isinstance(p, str)][:MAX_RECENT]

    def remember_style(self, path: str) -> None:
        self.recent_styles = [path] + [p for p in self.recent_styles if p != path]
        del self.recent_styles[MAX_RECENT:]

    def to_texture_params(self, width: int, height: int) -> dict:
        """The server's params for a texture of this size (no content, no strength)."""
        params = {
            "texture": [int(width), int(height)],
            "tileable": bool(self.tileable),
            "quality": self.quality if self.quality != "full" else "normal",
            "seed": int(self.seed),
        }
        if self.brush_size != 100:
            params["style_scale"] = self.brush_size / 100.0
        return params

    def to_params(self) -> dict:
        """The server's params for these settings (engine names)."""
        params = {
            "quality": self.quality,
            "style_weight": strength_to_weight(self.strength),
            "preserve_colors": self.preserve_colors,
            "seed": int(self.seed),
        }
        if self.size:
            params["size"] = int(self.size)
        if self.brush_size != 100:
            params["style_scale"] = self.brush_size / 100.0
        return params


def strength_to_weight(strength: int) -> float:
    """Slider 0..100 onto style weight 0.1..10, logarithmic: 50 -> 1.0 (the default)."""
    return round(10 ** ((int(strength) - 50) / 50.0), 4)


def _parse(raw, default):
    if isinstance(default, list):
        value = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(value, list):
            raise ValueError(raw)
        return value
    if isinstance(default, bool):
        return str(raw).strip().lower() in ("true", "1")
    if isinstance(default, int):
        return int(raw)
    return str(raw)
