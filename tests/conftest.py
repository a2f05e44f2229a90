"""Shared fixtures: sample images from the repository, downscaled in the test itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "nst" / "data"


@pytest.fixture(scope="session")
def content_path() -> Path:
    return DATA / "content.png"


@pytest.fixture(scope="session")
def style_path() -> Path:
    return DATA / "style.jpg"


def small(path: Path, long_edge: int, mode: str = "RGB") -> Image.Image:
    image = Image.open(path).convert(mode)
    image.thumbnail((long_edge, long_edge), Image.Resampling.LANCZOS)
    return image


@pytest.fixture()
def tiny_content(content_path: Path) -> Image.Image:
    return small(content_path, 64)


@pytest.fixture()
def tiny_style(style_path: Path) -> Image.Image:
    return small(style_path, 64)
