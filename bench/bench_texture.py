"""Textures and reconstructions (issue 13): the figures and pictures of docs/textures.md.

    python bench/bench_texture.py            # about 8 minutes on a 2-core CPU

- a 512x512 tileable texture of The Starry Night (normal preset): its seam ratio (mean
  difference across the wrap seams over the mean difference between neighbours inside;
  target <= 1.2) against the same texture made without --tileable, and a 2x2 tiling of it;
- its style loss (neural-style's, nst/score.py) against the painting, next to the default
  stylize result of the bundled photo with the same painting (target: lower), and the copy
  score of both (how much of the painting is pasted whole);
- `nst reconstruct` grids of the bundled photo (content) and painting (style) at 256 px.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst import images, reconstruct  # noqa: E402
from nst.score import canonical_losses, copy_score  # noqa: E402
from nst.texture import seam_ratio, texture  # noqa: E402

DATA = ROOT / "nst" / "data"
OUT = ROOT / "docs" / "images"


def main() -> None:
    painting = Image.open(DATA / "style.jpg").convert("RGB")
    photo = Image.open(DATA / "content.png").convert("RGB")
    style_512 = images.resize_long_edge(painting, 512)
    results = {}
    for tileable in (True, False):
        start = time.perf_counter()
        image = texture([painting], 512, 512, {"seed": 0}, tileable=tileable)
        results[tileable] = (image, time.perf_counter() - start)
        print(
            f"texture 512x512 tileable={tileable}: {results[tileable][1]:.0f} s, seam ratio "
            f"{seam_ratio(image):.3f}",
            flush=True,
        )
    pattern = results[True][0]
    pattern.save(OUT / "texture_starry_tileable.png")
    tiled = Image.new("RGB", (1024, 1024))
    for x in (0, 512):
        for y in (0, 512):
            tiled.paste(pattern, (x, y))
    tiled.resize((512, 512), Image.Resampling.LANCZOS).save(OUT / "texture_starry_2x2.png")
    print(f"2x2 tiling seam ratio {seam_ratio(tiled):.3f}")

    start = time.perf_counter()
    stylized = nst.stylize(photo, [painting], {"seed": 0})
    print(f"stylize (normal) of the bundled photo: {time.perf_counter() - start:.0f} s")
    content_512 = images.resize_long_edge(photo, 512)
    stylized_512 = stylized.resize(content_512.size, Image.Resampling.LANCZOS)
    _, s_stylized = canonical_losses(stylized_512, content_512, style_512)
    square = content_512.resize((512, 512))  # the content term is not used for the texture
    _, s_texture = canonical_losses(pattern, square, style_512)
    print(
        f"style loss: texture {s_texture:.4g}, stylized photo {s_stylized:.4g} "
        f"(ratio {s_texture / s_stylized:.2f}); copy score: texture "
        f"{copy_score(pattern, style_512):.3f}, stylized {copy_score(stylized_512, style_512):.3f}"
    )

    for name, make, source in (
        ("reconstruct_content.png", reconstruct.content_reconstructions, photo),
        ("reconstruct_style.png", reconstruct.style_reconstructions, painting),
    ):
        start = time.perf_counter()
        recs = make(source, size=256, steps=300)
        title = (
            "content: rebuilt from one layer"
            if "content" in name
            else ("style: rebuilt from layers conv1_1 up to ...")
        )
        reconstruct.grid([(title, images.resize_long_edge(source, 256), recs)], cell=180).save(
            OUT / name
        )
        print(
            f"{name}: {time.perf_counter() - start:.0f} s; "
            + ", ".join(f"{r.label} {r.error:.4g}" for r in recs),
            flush=True,
        )


if __name__ == "__main__":
    main()
