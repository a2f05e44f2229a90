"""`nst texture` and `nst reconstruct`: the CLI's two commands beyond stylize."""

from __future__ import annotations

import argparse
import re
import threading
from pathlib import Path
from typing import Any


def add_parsers(sub: Any) -> None:
    from nst.params import CHOICES

    tx = sub.add_parser(
        "texture",
        help="paint a new image with a painting's texture and no subject (tileable on request)",
        description="Texture synthesis (Gatys et al. 2015): the painting's strokes, colours "
        "and grain at any size, from noise. --tileable makes it repeat without a seam.",
    )
    tx.add_argument("styles", nargs="+", metavar="style", help="one or more style images")
    tx.add_argument("-o", "--output", required=True, help="output file (PNG)")
    tx.add_argument("--size", required=True, metavar="WxH", help="e.g. 512x512 (or 512)")
    tx.add_argument("--tileable", action="store_true", help="repeat seamlessly (a torus)")
    tx.add_argument("--seed", type=int, metavar="N", help="random seed (same seed, same result)")
    tx.add_argument("-q", "--quality", choices=("draft", "normal", "high"), help="default normal")
    tx.add_argument("--iterations", type=int, metavar="N", help="optimiser steps at full size")
    tx.add_argument("--style-scale", type=float, metavar="S", help="brush-stroke scale, default 1")
    tx.add_argument("--style-blend", type=float, nargs="+", metavar="W", help="weight per style")
    tx.add_argument("--tv-weight", type=float, metavar="W", help="smoothness, default 1")
    tx.add_argument(
        "--pooling", choices=CHOICES["pooling"], help="max (default, sharper) or avg (smoother)"
    )
    tx.add_argument("--device", choices=CHOICES["device"])
    tx.add_argument("--no-progress", action="store_true", help="no progress bar")

    rc = sub.add_parser(
        "reconstruct",
        help="show what each VGG layer keeps of an image (Gatys et al.'s Fig. 1)",
        description="Rebuilds IMAGE from noise from one layer's features at a time (conv1_1 "
        "to conv5_1), or with --style its style from growing sets of layers, and saves the "
        "labelled grid.",
    )
    rc.add_argument("image", help="a photo (content) or, with --style, a painting")
    rc.add_argument("-o", "--output", required=True, help="the grid picture (PNG)")
    rc.add_argument("--style", action="store_true", help="style reconstructions instead")
    rc.add_argument("--size", type=int, default=256, metavar="PX", help="long edge, default 256")
    rc.add_argument("--iterations", type=int, default=300, metavar="N", help="steps per tile")
    rc.add_argument("--seed", type=int, default=0, metavar="N")
    rc.add_argument("--device", choices=CHOICES["device"], default="auto")
    rc.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_size(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*", text or "")
    if not found:
        from nst.cli import CLIError

        raise CLIError(f"--size must be WIDTHxHEIGHT in pixels, e.g. 512x512 (got {text!r})")
    width = int(found.group(1))
    return width, int(found.group(2) or width)


def run_texture(args: argparse.Namespace) -> int:
    from nst.cli import _check_file, _ProgressBar
    from nst.texture import texture

    for path in args.styles:
        _check_file(path, "style image")
    width, height = parse_size(args.size)
    names = (
        "quality",
        "iterations",
        "style_scale",
        "style_blend",
        "tv_weight",
        "pooling",
        "device",
        "seed",
    )
    params = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if "iterations" in params:
        params["scales"] = None
    bar = None if args.no_progress else _ProgressBar()
    cancel = threading.Event()
    try:
        image = texture(
            args.styles,
            width,
            height,
            params,
            tileable=args.tileable,
            progress=bar.update_local if bar else None,
            cancel=cancel,
        )
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        if bar:
            bar.close()
    image.save(args.output)
    tiling = ", tileable" if args.tileable else ""
    print(f"saved {args.output} ({image.size[0]}x{image.size[1]}{tiling})")
    return 0


def run_reconstruct(args: argparse.Namespace) -> int:
    from nst import images, reconstruct
    from nst.cli import _check_file

    _check_file(args.image, "image")
    original = images.open_image(args.image, "image").convert("RGB")
    done = {"n": 0}
    total = len(reconstruct.CONTENT_LAYERS) * args.iterations

    def on_step(label: str, step: int) -> None:
        done["n"] += 1
        if not args.no_progress and done["n"] % 25 == 0:
            print(f"\r{label}: {100 * done['n'] // total}%", end="", flush=True)

    kwargs = dict(size=args.size, steps=args.iterations, seed=args.seed, device=args.device)
    if args.style:
        recs = reconstruct.style_reconstructions(original, on_step=on_step, **kwargs)
        title = f"style of {Path(args.image).name} rebuilt from layers conv1_1 up to ..."
    else:
        recs = reconstruct.content_reconstructions(original, on_step=on_step, **kwargs)
        title = f"{Path(args.image).name} rebuilt from one layer's features"
    if not args.no_progress:
        print()
    sheet = reconstruct.grid([(title, original, recs)])
    sheet.save(args.output)
    unit = "style loss" if args.style else "mean abs error /255"
    for r in recs:
        print(f"  {r.label:>14}: {unit} {r.error:.4g}")
    print(f"saved {args.output} ({sheet.size[0]}x{sheet.size[1]})")
    return 0
