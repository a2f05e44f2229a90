"""Where one optimisation step's time goes: ms per step and the most expensive operators.

One step is one loss-and-gradient evaluation of the engine's objective (nst/losses.py) on the
bundled photo and The Starry Night. As peers in the same run it also times the step with the
Gram matrix as plain autograd computes it (`flat @ flat.T` on a float32 copy), which is what
the engine used before its hand-written Gram backward, and with PyTorch's own convolution
instead of nst/packed_conv.py's (which reorders the weights on every call), with the
Gram product on a float32 copy of the features (the reference preset's) instead of in bf16,
with PyTorch's max-pooling backward and a separate ReLU mask instead of packed_conv's, and
with glibc handing freed memory back on every step (outside nst/heap.py's keep_freed_memory,
which the engine's scales run inside), and in float32 with direct convolutions instead of
nst/winograd.py's.

    python bench/profile_step.py                      # 512x320, bf16 on the CPU
    python bench/profile_step.py --size 128x80 --top 15
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nst import heap, images, losses, packed_conv  # noqa: E402
from nst.device import pick_device, pick_precision  # noqa: E402
from nst.params import Params  # noqa: E402
from nst.vgg import load_vgg19  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "nst" / "data"


def autograd_gram(features: torch.Tensor, region=None, exact: bool = True) -> torch.Tensor:
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w).float()
    return flat @ flat.transpose(1, 2) / (c * h * w)


def torch_pool(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.max_pool2d(x, 2, 2, ceil_mode=True)


def torch_conv_relu_pool(x: torch.Tensor, packed, padding: int = 1, winograd=False) -> torch.Tensor:
    return torch_pool(packed_conv.conv_relu(x, packed, padding, winograd))


def ms_per_step(
    objective: losses.Objective, image: torch.Tensor, steps: int, keep: bool = True
) -> float:
    with heap.keep_freed_memory() if keep else contextlib.nullcontext():
        for _ in range(2):  # kernel selection, first allocations
            objective.value_and_grad(image)
        start = time.perf_counter()
        for _ in range(steps):
            objective.value_and_grad(image)
        return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512x320", help="WxH of the step (default 512x320)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--steps", type=int, default=10, help="steps timed (default 10)")
    parser.add_argument("--top", type=int, default=12, help="operators listed (default 12)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    params = Params.from_dict({"precision": args.precision})
    device = pick_device(params.device)
    dtype = pick_precision(params.precision, device)
    model = load_vgg19(params.weights, params.pooling, device)
    photo = Image.open(DATA / "content.png").convert("RGB").resize((width, height))
    painting = images.resize_long_edge(Image.open(DATA / "style.jpg").convert("RGB"), width)
    content = images.to_tensor(photo).to(device)
    objective = losses.Objective(
        model, params, content, [images.to_tensor(painting).to(device)], [1.0], dtype
    )
    print(f"torch {torch.__version__}, {device}, {dtype}, {torch.get_num_threads()} threads")

    ours = ms_per_step(objective, content, args.steps)
    fast_gram = losses.gram
    losses.gram = autograd_gram
    try:
        peer = ms_per_step(objective, content, args.steps)
    finally:
        losses.gram = fast_gram
    objective.exact_gram = True  # the reference's: the product on a float32 copy
    try:
        exact = ms_per_step(objective, content, args.steps)
    finally:
        objective.exact_gram = params.is_reference
    available = packed_conv.available
    packed_conv.available = lambda x: False
    try:
        plain = ms_per_step(objective, content, args.steps)
    finally:
        packed_conv.available = available
    fast_pool = packed_conv.max_pool, packed_conv.conv_relu_pool
    packed_conv.max_pool, packed_conv.conv_relu_pool = torch_pool, torch_conv_relu_pool
    try:
        pooled = ms_per_step(objective, content, args.steps)
    finally:
        packed_conv.max_pool, packed_conv.conv_relu_pool = fast_pool
    returned = ms_per_step(objective, content, args.steps, keep=False)
    objective.winograd = False  # the reference's float32 convolutions (nst/winograd.py)
    try:
        direct = ms_per_step(objective, content, args.steps)
    finally:
        objective.winograd = not params.is_reference
    print(
        f"{width}x{height} step: {ours:.0f} ms; with autograd's Gram: {peer:.0f} ms; with the "
        f"exact (float32) Gram: {exact:.0f} ms; with PyTorch's own convolution: {plain:.0f} ms; "
        f"with PyTorch's pooling backward: {pooled:.0f} ms; with freed memory returned to the "
        f"system: {returned:.0f} ms; with direct float32 convolutions, no Winograd (the same as "
        f"the first in bf16): {direct:.0f} ms"
    )

    from torch.profiler import ProfilerActivity, profile

    with heap.keep_freed_memory(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            objective.value_and_grad(content)
    print("operators over 3 steps:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
