"""The README's pictures, made by the engine as it is:

- docs/images/demo.png: the bundled photo, the bundled painting and `nst stylize --demo`'s
  result (default preset), side by side;
- docs/images/strengths.png: one pair at strength (style_weight) 0.25, 0.5, 1, 2 and 4.

    python bench/make_pictures.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst import images  # noqa: E402

STRENGTHS = (0.25, 0.5, 1.0, 2.0, 4.0)


def side_by_side(tiles: list[Image.Image], labels: list[str], height: int) -> Image.Image:
    tiles = [t.convert("RGB").resize((round(t.width * height / t.height), height)) for t in tiles]
    pad, text = 6, 18
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + pad * (len(tiles) - 1), height + text))
    sheet.paste("white", (0, 0, sheet.width, sheet.height))
    draw, x = ImageDraw.Draw(sheet), 0
    for tile, label in zip(tiles, labels):
        sheet.paste(tile, (x, text))
        draw.text((x + 4, 3), label, fill="black")
        x += tile.width + pad
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    out = ROOT / "docs" / "images"

    content, style = ROOT / "nst/data/content.png", ROOT / "nst/data/style.jpg"
    result = nst.stylize(content, [style], {"seed": 0})
    painting = Image.open(style)
    sheet = side_by_side(
        [Image.open(content), painting, result],
        ["photo", "painting", "nst stylize --demo (normal preset)"],
        300,
    )
    sheet.save(out / "demo.png")

    photo = images.resize_long_edge(Image.open(args.data / "astronaut.png").convert("RGB"), 384)
    wave = Image.open(args.data / "bench/wave_kanagawa.jpg").convert("RGB")
    results = [nst.stylize(photo, [wave], {"seed": 0, "style_weight": s}) for s in STRENGTHS]
    labels = ["painting"] + [f"strength {s:g}" for s in STRENGTHS]
    side_by_side([wave, *results], labels, 200).save(out / "strengths.png")
    print(f"wrote {out / 'demo.png'} and {out / 'strengths.png'}")


if __name__ == "__main__":
    main()
