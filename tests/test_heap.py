"""nst/heap.py: while a scale runs, the memory each step frees is reused by the next without
page faults; after it, the memory goes back to the system."""

from __future__ import annotations

import resource
import threading

import pytest
import torch

import nst
from nst import heap
from nst.losses import Objective
from nst.vgg import load_vgg19

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc only")

MB = 1 << 20


def _faults_per_step(objective: Objective, image: torch.Tensor, steps: int = 3) -> float:
    """This thread's minor page faults per loss-and-gradient evaluation."""
    objective.value_and_grad(image)  # the first may fault anywhere
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(steps):
        objective.value_and_grad(image)
    return (resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before) / steps


def _resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def test_steps_reuse_freed_memory_within_and_return_it_after():
    model = load_vgg19("caffe", "max", "cpu")
    g = torch.Generator().manual_seed(0)
    photo, painting = (torch.rand(1, 3, 160, 256, generator=g) * 255 for _ in range(2))
    objective = Objective(model, nst.Params(), photo, [painting], [1.0], torch.bfloat16)
    with heap.keep_freed_memory():
        pass  # glibc's settings between scales from now on (no more adaptive thresholds)
    outside = _faults_per_step(objective, photo)
    assert outside > 1000  # glibc hands the large blocks back and faults them in again
    with heap.keep_freed_memory():
        with heap.keep_freed_memory():  # nested, as two workers' scales may overlap
            pass
        inside = _faults_per_step(objective, photo)
        big = torch.empty(256 * MB, dtype=torch.uint8).fill_(1)
        del big
        kept = _resident()
    assert inside < outside / 10
    assert _resident() < kept - 128 * MB  # handed back once no scale runs
    assert _faults_per_step(objective, photo) > 1000  # and glibc's usual behaviour is back


def test_a_server_worker_thread_reuses_freed_memory_too():
    """The server calls one_arena() before its worker thread starts (server/cli.py): a thread's
    own arena keeps less (at 512x320: 5,700 faults a step in it, 800 with one arena)."""
    heap.one_arena()
    with heap.keep_freed_memory():
        pass  # glibc's settings between scales from now on
    model = load_vgg19("caffe", "max", "cpu")
    photo = torch.rand(1, 3, 320, 512, generator=torch.Generator().manual_seed(1)) * 255
    objective = Objective(model, nst.Params(), photo, [photo.flip(-1)], [1.0], torch.bfloat16)
    faults: dict[str, float] = {}

    def work() -> None:
        faults["outside"] = _faults_per_step(objective, photo)
        with heap.keep_freed_memory():
            faults["inside"] = _faults_per_step(objective, photo)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert faults["outside"] > 10000
    assert faults["inside"] < faults["outside"] / 30
