"""Krita plugin: settings persist in Krita's config and map onto the server's parameters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import plugin_env  # noqa: E402

APP = plugin_env.setup()

import fake_krita  # noqa: E402
from nst_krita.settings import (  # noqa: E402
    GROUP,
    MAX_RECENT,
    KritaStore,
    MemoryStore,
    Settings,
    strength_to_weight,
)

from nst.params import Params  # noqa: E402


def test_round_trip_through_krita_settings():
    krita = fake_krita.Krita.reset()
    settings = Settings(
        server="http://10.0.0.2:9000",
        token="s3cret",
        strength=80,
        quality="full",
        size=768,
        brush_size=50,
        preserve_colors="luminance",
        seed=42,
    )
    settings.remember_style("/styles/a.jpg")
    settings.remember_style("/styles/b.png")
    settings.last_styles = [{"file": "/styles/b.png"}, {"document": "sketch"}]
    settings.save(KritaStore(krita))
    assert all(group == GROUP for group, _ in krita.settings)  # fake asserts str values
    loaded = Settings.load(KritaStore(krita))
    assert vars(loaded) == vars(settings)
    assert loaded.recent_styles == ["/styles/b.png", "/styles/a.jpg"]


def test_defaults_and_damaged_entries():
    store = MemoryStore()
    assert vars(Settings.load(store)) == vars(Settings())
    store.data.update(
        {
            "strength": "lots",
            "quality": "ultra",
            "recent_styles": "{not json",
            "size": "5",
            "seed": "-3",
        }
    )
    loaded = Settings.load(store)
    assert loaded.strength == 50 and loaded.quality == "normal"
    assert loaded.recent_styles == [] and loaded.size == 0 and loaded.seed == 0


def test_recent_styles_are_unique_newest_first_and_bounded():
    settings = Settings()
    for i in range(MAX_RECENT + 3):
        settings.remember_style(f"/s/{i}.png")
    settings.remember_style("/s/5.png")
    assert settings.recent_styles[0] == "/s/5.png"
    assert len(settings.recent_styles) == MAX_RECENT
    assert len(set(settings.recent_styles)) == MAX_RECENT


def test_strength_is_logarithmic_around_the_default_weight():
    assert strength_to_weight(50) == 1.0
    assert strength_to_weight(0) == pytest.approx(0.1)
    assert strength_to_weight(100) == pytest.approx(10.0)
    assert strength_to_weight(75) == pytest.approx(10**0.5, rel=1e-3)


@pytest.mark.parametrize("size", [0, 640])
def test_params_are_valid_engine_params(size):
    settings = Settings(
        strength=90, quality="draft", size=size, preserve_colors="histogram", seed=7
    )
    params = settings.to_params()
    engine = Params.from_dict(params)  # the server validates with this: unknown keys refused
    assert engine.quality == "draft" and engine.seed == 7
    assert engine.preserve_colors == "histogram"
    assert engine.style_weight == pytest.approx(strength_to_weight(90))
    assert engine.size == (size or None)
    assert engine.style_scale == 1.0 and "style_scale" not in params


def test_full_quality_and_brush_size_reach_the_engine():
    params = Settings(quality="full", brush_size=250).to_params()
    engine = Params.from_dict(params)
    assert engine.quality == "full" and engine.is_native
    assert engine.style_scale == 2.5
    store = MemoryStore()
    store.write("brush_size", "9999")  # out of range in a hand-edited kritarc: clamped
    assert Settings.load(store).to_params()["style_scale"] == 4.0


def test_texture_params_are_valid_engine_params_and_tileable_is_kept():
    settings = Settings(quality="full", tileable=True, brush_size=50, seed=3)
    params = settings.to_texture_params(300, 200)
    assert params == {
        "texture": [300, 200],
        "tileable": True,
        "quality": "normal",  # a texture is painted at its own size: full means normal's steps
        "seed": 3,
        "style_scale": 0.5,
    }
    Params.from_dict(params)  # the engine accepts them as they are
    store = MemoryStore()
    settings.save(store)
    assert Settings.load(store).tileable is True
    Settings(tileable=False).save(store)
    assert Settings.load(store).tileable is False
