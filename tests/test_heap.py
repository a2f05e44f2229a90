"""nst/heap.py: while a scale runs, the memory each step frees is reused by the next without
page faults; after it, the memory goes back to the system.

Each check runs in a fresh Python: glibc's behaviour depends on what the process allocated
before, which in the test run is every earlier test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nst import heap

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc only")

SETUP = """
import json, resource, threading, torch, nst
from nst import heap
from nst.device import pick_precision
from nst.losses import Objective
from nst.vgg import load_vgg19

def faults_per_step(objective, image, steps=3):
    objective.value_and_grad(image)  # the first may fault anywhere
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for _ in range(steps):
        objective.value_and_grad(image)
    return (resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before) / steps

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

def objective_at(width, height):
    photo = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)) * 255
    model = load_vgg19("caffe", "max", "cpu")
    # The precision runs use here: emulated bf16 (CPUs without it) takes minutes a step.
    dtype = pick_precision("auto", torch.device("cpu"))
    objective = Objective(model, nst.Params(), photo, [photo.flip(-1)], [1.0], dtype)
    return objective, photo
"""


def _run(script: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SETUP + script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_steps_reuse_freed_memory_within_and_return_it_after():
    out = _run("""
with heap.keep_freed_memory():
    pass  # glibc's settings between scales from now on (no more adaptive thresholds)
objective, photo = objective_at(256, 160)
outside = faults_per_step(objective, photo)
with heap.keep_freed_memory():
    with heap.keep_freed_memory():  # nested, as two workers' scales may overlap
        pass
    inside = faults_per_step(objective, photo)
    big = torch.empty(256 << 20, dtype=torch.uint8).fill_(1)
    del big
    kept = resident()
print(json.dumps({"outside": outside, "inside": inside, "kept": kept, "after": resident()}))
""")
    assert out["outside"] > 1000  # glibc hands the large blocks back and faults them in again
    assert out["inside"] < out["outside"] / 10
    assert out["after"] < out["kept"] - (128 << 20)  # handed back once no scale runs


def test_a_server_worker_thread_reuses_freed_memory_too():
    """The server calls one_arena() before its worker thread starts (server/cli.py): a thread's
    own arena keeps less (at 512x320: 6,000-12,000 faults a step in it, 800 with one arena,
    60,000 without keep_freed_memory)."""
    out = _run("""
heap.one_arena()
with heap.keep_freed_memory():
    pass
objective, photo = objective_at(512, 320)
faults = {}
def work():
    faults["outside"] = faults_per_step(objective, photo)
    with heap.keep_freed_memory():
        faults["inside"] = faults_per_step(objective, photo)
worker = threading.Thread(target=work)
worker.start()
worker.join()
print(json.dumps(faults))
""")
    assert out["outside"] > 10000
    assert out["inside"] < out["outside"] / 20
