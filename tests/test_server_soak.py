"""A short soak (bench/soak_server.py runs 300 jobs): every job ends, finished jobs are freed
after --result-ttl, and memory, threads and open files do not grow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "soak_server.py"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_short_soak_ends_every_job_and_leaks_nothing() -> None:
    spec = importlib.util.spec_from_file_location("soak_server", SCRIPT)
    assert spec is not None and spec.loader is not None
    soak_server = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = soak_server  # dataclasses look their module up there
    spec.loader.exec_module(soak_server)
    report = soak_server.soak(jobs=60, seed=1, baseline_after=20)  # raises on any failure
    print(report)
    assert report["stuck"] == 0 and report["kept_after_ttl"] == 0
    kinds = report["kinds"]
    assert kinds.get("normal", 0) > 0 and kinds.get("cancel", 0) > 0, kinds
