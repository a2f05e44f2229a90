"""Device and precision choice: bf16 only where the CPU runs it natively."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import nst
from nst.device import cpu_has_fast_bf16, pick_precision

CPU = torch.device("cpu")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_fast_bf16_means_native_bf16_instructions() -> None:
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags |= set(line.split(":", 1)[1].split())
    assert cpu_has_fast_bf16() == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_auto_is_float32_on_avx512_without_bf16(monkeypatch) -> None:
    # Such CPUs (Skylake-X to Tiger Lake) pass mkldnn's bf16 check but emulate bf16 slowly.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert pick_precision("auto", CPU) == torch.float32
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert pick_precision("auto", CPU) == torch.bfloat16


def test_explicit_precisions() -> None:
    assert pick_precision("fp32", CPU) == torch.float32
    assert pick_precision("bf16", CPU) == torch.bfloat16
    with pytest.raises(nst.ParamsError) as info:
        pick_precision("fp16", CPU)
    assert info.value.field == "precision" and "GPU" in info.value.message


def test_auto_on_cuda_is_bf16_only_where_it_is_native(monkeypatch) -> None:
    cuda = torch.device("cuda")
    # A pre-Ampere GPU: bf16 only by emulation.
    monkeypatch.setattr(
        torch.cuda, "is_bf16_supported", lambda including_emulation=True: bool(including_emulation)
    )
    assert pick_precision("auto", cuda) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert pick_precision("auto", cuda) == torch.bfloat16
