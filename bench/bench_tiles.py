"""Benchmark: large canvases, in tiles (nst/tiles.py) and in one pass.

Every measurement runs in a fresh process, so its peak resident memory (RSS) is its own.

    python bench/bench_tiles.py                  # step time and memory at 1024, 2048, 4096 px
    python bench/bench_tiles.py --seam           # tiled against one pass on a smooth photo
    python bench/bench_tiles.py --native 3840x2160   # a whole `full` run at 4K, time and RSS
    python bench/bench_tiles.py --native 6000x4000 --iterations 2   # memory only, quicker
    python bench/bench_tiles.py --crop           # 100% crops: native 4K against upsampled

The photo is bench/winter-wolf.jpg (1920x1080) from ../shared/data, resized to each size;
the painting The Starry Night.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
PHOTO, PAINTING = DATA / "bench" / "winter-wolf.jpg", DATA / "starry_night.jpg"
OUT = ROOT / "bench" / "out" / "tiles"


def child(job: dict) -> dict:
    """Runs in its own process: one measurement, returned with the process's peak RSS."""
    from PIL import Image

    import nst
    from nst import images
    from nst.balance import style_gains
    from nst.device import pick_device, pick_precision
    from nst.losses import Objective
    from nst.tiles import TiledObjective
    from nst.vgg import load_vgg19

    w, h = job["width"], job["height"]
    photo = Image.open(PHOTO).convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
    painting = Image.open(PAINTING).convert("RGB")
    result: dict = {}
    if job["kind"] == "step":
        params = nst.Params(tile_size=job.get("tile"))
        device = pick_device("auto")
        dtype = pick_precision("auto", device)
        model = load_vgg19("caffe", "max", device)
        content = images.to_tensor(photo)
        style = images.to_tensor(images.resize_long_edge(painting, max(w, h)))
        start = time.perf_counter()
        args = (model, params, content, [style], [1.0], dtype)
        if job.get("tile"):
            core = job["tile"]
            objective = TiledObjective(*args, style_gains=style_gains(params), core=core)
            result["tiles"] = len(objective.tiles(content))
            result["halo"] = objective.halo
        else:
            objective = Objective(*args, style_gains=style_gains(params))
        result["targets_s"] = time.perf_counter() - start
        times = []
        for _ in range(job.get("steps", 2)):
            start = time.perf_counter()
            objective.value_and_grad(content)
            times.append(time.perf_counter() - start)
        result["step_s"] = min(times[1:] or times)  # the first pays one-off set-up
    else:  # a whole stylize run
        params = dict(job["params"])
        start = time.perf_counter()
        out = nst.stylize(photo, painting, params)
        result["seconds"] = time.perf_counter() - start
        out.save(job["out"])
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def run_child(job: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(job)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def sizes_table() -> None:
    from nst import memory
    from nst.tiles import reach

    print("One step (loss and gradient) of the fast presets' loss, in a fresh process each.")
    print("| size | pixels | mode | tiles | step | per megapixel | peak RSS (GiB) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    halo = reach(["conv5_1"])
    for w, h in [(1024, 576), (2048, 1152), (4096, 2304)]:
        import torch

        auto = memory.tile_core(w, h, halo, torch.bfloat16, torch.device("cpu"))
        # One pass where it fits this machine (2048 px: about 7 GB), then the automatic tiles,
        # then small tiles to show the cost of the halo.
        modes = [("one pass", None)] if w <= 2048 else []
        modes += [(f"tiles (auto, core {auto})", auto)] if auto else []
        modes += [("tiles (core 512)", 512)]
        for label, tile in modes:
            r = run_child({"kind": "step", "width": w, "height": h, "tile": tile})
            if "error" in r:
                print(f"| {w}x{h} | | {label} | | {r['error']} | | |")
                continue
            mpx = w * h / 1e6
            print(
                f"| {w}x{h} | {mpx:.1f} M | {label} | {r.get('tiles', 1)} | {r['step_s']:.1f} s"
                f" | {r['step_s'] / mpx:.2f} s | {r['peak_rss_gb']:.2f} |",
                flush=True,
            )


def seam() -> None:
    """Tiled against one pass at a size where both fit, on a smooth gradient photo; and, as
    a control, one pass against one pass with another thread count (other float rounding)."""
    import numpy as np
    import torch
    from PIL import Image

    import nst

    y, x = np.mgrid[0:512, 0:768]
    rgb = np.stack([255 * x / 768, 255 * y / 512, 128 + 60 * np.sin(x / 60.0)], axis=-1)
    photo = Image.fromarray(rgb.astype(np.uint8))
    painting = Image.open(PAINTING).convert("RGB")
    near_seams = np.zeros((512, 768), bool)  # 16 px bands along the tile edges
    near_seams[:, 248:264] = near_seams[:, 504:520] = near_seams[248:264, :] = True

    def report(label: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = np.abs(a - b).max(axis=2)
        print(
            f"{label}: max {d.max()}/255, {(d > 2).sum()} pixels above 2/255 (of {d.size}), "
            f"mean {d[near_seams].mean():.3f} near the seams, {d[~near_seams].mean():.3f} elsewhere"
        )
        return d

    print("768x512, from the photo, float32, tiles of 256 px (6 tiles):")
    for steps in (6, 10):
        base = {"size": 768, "scales": 1, "iterations": steps, "precision": "fp32", "seed": 0}
        torch.set_num_threads(2)
        one = np.asarray(nst.stylize(photo, painting, base), dtype=int)
        tiled = np.asarray(nst.stylize(photo, painting, {**base, "tile_size": 256}), dtype=int)
        d = report(f"  {steps} steps, tiles against one pass", tiled, one)
        torch.set_num_threads(1)
        other = np.asarray(nst.stylize(photo, painting, base), dtype=int)
        report(f"  {steps} steps, one pass with 1 thread against 2", other, one)
    torch.set_num_threads(2)
    # 256 px at 100% around the crossing of four tiles (256, 256): one pass | tiles | 20x diff
    box = (128, 128, 384, 384)
    diff = np.clip(d * 20, 0, 255).astype(np.uint8)
    parts = [
        Image.fromarray(one.astype(np.uint8)).crop(box),
        Image.fromarray(tiled.astype(np.uint8)).crop(box),
        Image.fromarray(diff).convert("RGB").crop(box),
    ]
    sheet = Image.new("RGB", (3 * 256 + 16, 256), "white")
    for i, part in enumerate(parts):
        sheet.paste(part, (i * 264, 0))
    path = ROOT / "docs" / "images" / "tile_seam_crop.png"
    sheet.save(path)
    print(f"one pass | tiles | difference x20, 10 steps, at a tile crossing -> {path}")


def native(size: str, iterations: int | None) -> None:
    w, h = (int(v) for v in size.split("x"))
    OUT.mkdir(parents=True, exist_ok=True)
    params: dict = {"quality": "full", "seed": 0}
    if iterations:
        params["iterations"] = iterations
    out = OUT / f"native_{w}x{h}{'_it' + str(iterations) if iterations else ''}.png"
    r = run_child({"kind": "run", "width": w, "height": h, "params": params, "out": str(out)})
    if "error" in r:
        print(f"{w}x{h} full: {r['error']}")
        return
    print(
        f"{w}x{h} `full` preset{f', iterations {iterations}' if iterations else ''}: "
        f"{r['seconds']:.0f} s, peak RSS {r['peak_rss_gb']:.2f} GiB -> {out}"
    )


def crop() -> None:
    """Native 4K `full` against `normal` upsampled to 4K: the same 100% crop of each."""
    from PIL import Image

    w, h = 3840, 2160
    OUT.mkdir(parents=True, exist_ok=True)
    native_path = OUT / f"native_{w}x{h}.png"
    if not native_path.exists():
        native(f"{w}x{h}", None)
    normal_path = OUT / f"normal_{w}x{h}.png"
    if not normal_path.exists():
        run_child(
            {"kind": "run", "width": w, "height": h, "params": {"seed": 0}, "out": str(normal_path)}
        )
    box = (2300, 1100, 2900, 1500)  # 600x400 px at 100%: the wolf's head
    a = Image.open(normal_path).crop(box)
    b = Image.open(native_path).crop(box)
    sheet = Image.new("RGB", (a.width * 2 + 8, a.height), "white")
    sheet.paste(a, (0, 0))
    sheet.paste(b, (a.width + 8, 0))
    path = ROOT / "docs" / "images" / "native_4k_crop.png"
    sheet.save(path)
    print(f"left: normal (512 px, upsampled to 4K); right: full (native 4K) -> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seam", action="store_true")
    parser.add_argument("--native", metavar="WxH")
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--crop", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
    elif args.seam:
        seam()
    elif args.native:
        native(args.native, args.iterations)
    elif args.crop:
        crop()
    else:
        sizes_table()


if __name__ == "__main__":
    main()
