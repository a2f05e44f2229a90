"""Device and precision choice: the fastest that still converges, picked automatically."""

from __future__ import annotations

import functools

import torch

from nst.errors import ParamsError


@functools.cache
def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ParamsError("device", "'cuda' was asked for but there is no CUDA GPU; use 'auto'")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ParamsError(
            "device", "'mps' was asked for but Apple MPS is not available; use 'auto'"
        )
    return torch.device(requested)


def cpu_has_fast_bf16() -> bool:
    """True on x86 CPUs with native bf16 instructions (AVX512-BF16 or AMX).

    Not mkldnn's own bf16 check: it also says yes on AVX-512 CPUs without them (Skylake-X to
    Tiger Lake), where oneDNN emulates bf16 and a step took 2.5x as long as in float32
    (measured with ONEDNN_MAX_CPU_ISA=AVX512_CORE: 925 ms against 377 ms).
    """
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # private helpers: absent from some torch builds
        return False


def pick_precision(requested: str, device: torch.device) -> torch.dtype:
    """The compute dtype of the VGG forward pass. The image and the losses stay float32.

    auto: bf16 on CPUs with native bf16 (measured in bench/: faster, same final losses);
    bf16 on CUDA GPUs with native bf16; float32 elsewhere (MPS autocast is still patchy).
    """
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if requested != "auto":
        dtype = table[requested]
        if device.type == "cpu" and dtype == torch.float16:
            raise ParamsError("precision", "'fp16' is for GPUs; on the CPU use 'bf16' or 'fp32'")
        return dtype
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    # Native bf16 from Ampere on; before it (GTX 10xx, RTX 20xx, T4, V100) torch emulates it.
    if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float32
