"""Benchmark: this engine's default preset against pastiche's default run, scored alike.

Both tools get the same content and style at the same size, in one run. One scorer, which is
neither tool's own loss, computes the standard Gatys et al. (2015) losses of each output
(nst/score.py) with the original Caffe VGG19 in float32. Also prints ms per iteration at 256
and 512 px in fp32 and bf16, and the peak memory (RSS) of a 512 px run in a fresh process.

    python bench/bench_engine.py                 # full run (pastiche takes minutes)
    python bench/bench_engine.py --pastiche-steps 100   # quicker, less fair to pastiche
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst  # noqa: E402
from nst import images  # noqa: E402
from nst.device import pick_precision  # noqa: E402
from nst.score import gatys_losses  # noqa: E402
from nst.vgg import load_vgg19  # noqa: E402


def run_ours(
    content: Path,
    style: Path,
    size: int,
    out: Path,
    precision: str = "auto",
    quality: str = "normal",
) -> tuple[float, int]:
    steps = 0

    def count(p: nst.Progress) -> None:
        nonlocal steps
        steps = p.step

    start = time.perf_counter()
    params = {"size": size, "seed": 0, "precision": precision, "quality": quality}
    result = nst.stylize(content, style, params, progress=count)
    elapsed = time.perf_counter() - start
    result.save(out)
    return elapsed, steps


def run_pastiche(content: Path, style: Path, size: int, steps: int, out: Path) -> float:
    cmd = [
        sys.executable,
        "-m",
        "pastiche",
        "--content",
        str(content),
        "--styles",
        str(style),
        "--output",
        str(out),
        "--size",
        str(size),
        "--style-size",
        str(size),
        "--seed",
        "0",
        "--device",
        "cpu",
        "--num-steps",
        str(steps),
        "--no-verbose",
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def ms_per_iteration(size: int, precision: str, n: int = 5) -> float:
    from nst.losses import Objective
    from nst.params import Params

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    model = load_vgg19("caffe", "max", "cpu")
    image = (torch.rand(1, 3, size, size) * 255).requires_grad_()
    objective = Objective(model, Params(), image.detach(), [image.detach()], [1.0], dtype)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        objective(image).backward()
        times.append(time.perf_counter() - t)
    return 1000 * min(times[1:])


PEAK_SNIPPET = """
import resource, sys, nst
nst.stylize(sys.argv[1], sys.argv[2], {"size": 512, "iterations": 3, "scales": 1})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_memory_mb(content: Path, style: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SNIPPET, str(content), str(style)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--content", type=Path, default=ROOT / "nst/data/content.png")
    parser.add_argument("--style", type=Path, default=ROOT / "nst/data/style.jpg")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pastiche-steps", type=int, default=1000, help="pastiche's default: 1000")
    parser.add_argument("--skip-speed", action="store_true", help="skip the ms/iteration table")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, size {args.size} px")
    content = images.resize_long_edge(Image.open(args.content).convert("RGB"), args.size)
    style = images.resize_long_edge(Image.open(args.style).convert("RGB"), args.size)
    auto = str(pick_precision("auto", torch.device("cpu"))).removeprefix("torch.")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ours_png, theirs_png = Path(tmp, "ours.png"), Path(tmp, "pastiche.png")
        fp32_png, draft_png = Path(tmp, "ours_fp32.png"), Path(tmp, "ours_draft.png")
        t_ours, n_ours = run_ours(args.content, args.style, args.size, ours_png)
        t_pas = run_pastiche(args.content, args.style, args.size, args.pastiche_steps, theirs_png)
        t_fp32, n_fp32 = run_ours(args.content, args.style, args.size, fp32_png, "fp32")
        t_draft, n_draft = run_ours(args.content, args.style, args.size, draft_png, "auto", "draft")
        for name, png, t, n in (
            (f"nst (default, {auto})", ours_png, t_ours, n_ours),
            (f"pastiche ({args.pastiche_steps} steps)", theirs_png, t_pas, args.pastiche_steps),
            ("nst (default, float32)", fp32_png, t_fp32, n_fp32),
            (f"nst (draft, {auto})", draft_png, t_draft, n_draft),
        ):
            out = Image.open(png).convert("RGB").resize(content.size, Image.Resampling.LANCZOS)
            c, s = gatys_losses(out, content, style)
            rows.append((name, t, n, c, s))
        Image.open(ours_png).save(ROOT / "bench" / "last_nst.png")
        Image.open(theirs_png).save(ROOT / "bench" / "last_pastiche.png")

    print(f"\n{'tool':28} {'wall s':>8} {'iters':>6} {'ms/iter':>8} {'content':>12} {'style':>12}")
    for name, t, n, c, s in rows:
        print(f"{name:28} {t:8.1f} {n:6d} {1000 * t / n:8.0f} {c:12.4g} {s:12.4g}")
    _, t2, _, c2, s2 = rows[1]
    print()
    for name, t1, _, c1, s1 in (rows[0], rows[3]):
        print(
            f"{name} / pastiche: time {t1 / t2:.3f} (1/{t2 / t1:.1f}), content loss "
            f"{c1 / c2:.3f}, style loss {s1 / s2:.3f}"
        )

    if not args.skip_speed:
        print("\nms per iteration (forward + backward of the full loss), CPU:")
        for size in (256, 512):
            cells = [f"{p} {ms_per_iteration(size, p):7.0f}" for p in ("fp32", "bf16")]
            print(f"  {size} px: " + "   ".join(cells))
        peak = peak_memory_mb(args.content, args.style)
        print(f"\npeak memory of a 512 px run (RSS): {peak:.0f} MB")


if __name__ == "__main__":
    main()
