"""The last scale's conv4_1 boost (nst/balance.py, deep_boost) in other shapes, scored as
bench_quality.py scores the presets: content and style ratios against the cached reference.

Each variant is POWER:CAP, the boost being min(CAP, max(1, (share / SHARE_PIVOT) ** POWER));
"2:1.75" is today's, "2:1" no boost. One process, the pairs one at a time (2 threads):

    python bench/sweep_boost.py --size 512 --variants 2:1,1:1.75,2:1.35 \
        --pairs heldout:temple/lilies,tuned:animal/strokes
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_quality as bq  # noqa: E402

from nst import balance  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--variants", required=True, help="POWER:CAP,... e.g. 2:1,1:1.75")
    parser.add_argument("--pairs", required=True, help="SET:photo/painting,... (bench_quality)")
    parser.add_argument("--data", type=Path, default=bq.DEFAULT_DATA)
    args = parser.parse_args()
    outdir = ROOT / "bench" / "out" / f"sweep_boost_{args.size}px"
    outdir.mkdir(parents=True, exist_ok=True)

    used = {}  # the boost deep_boost returned in the last run
    measure = balance.deep_boost

    def recorded(params, errors):  # type: ignore[no-untyped-def]
        used["boost"] = measure(params, errors)
        return used["boost"]

    balance.deep_boost = recorded
    for variant in args.variants.split(","):
        power, cap = (float(x) for x in variant.split(":"))
        balance.SHARE_POWER, balance.MAX_DEEP_BOOST = power, cap
        folder = outdir / f"{power:g}_{cap:g}"
        folder.mkdir(exist_ok=True)
        for item in args.pairs.split(","):
            group, pair = item.split(":")
            photo, painting = pair.split("/")
            # bench_quality's own run (seed 0, 2 threads), here in this process, where the
            # patched measure and constants hold
            (job,) = bq._jobs([(photo, painting)], args.data, args.size, 1, {}, folder)
            used["boost"] = 1.0
            result = bq._run(job)
            ref = bq.reference_dir(args.size, group) / f"{photo}__{painting}.png"
            r = bq.score_pair(args.data, photo, painting, args.size, Path(job["out"]), ref)
            print(
                f"{variant:8} {pair:22} boost {used['boost']:.2f}  content {r['content']:.3f}x "
                f"style {r['style']:.3f}x  copy {r['copy']:.3f} (ref {r['copy_ref']:.3f})  "
                f"{result['seconds']:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
