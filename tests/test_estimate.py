"""The time estimate: reference runs and fast runs learn speeds of their own."""

from __future__ import annotations

import pytest
import torch

from nst import estimate
from nst.params import Params


@pytest.fixture
def fresh_speeds(monkeypatch: pytest.MonkeyPatch) -> dict:
    speeds: dict = {}
    monkeypatch.setattr(estimate, "_speeds", speeds)
    return speeds


def test_a_reference_run_does_not_change_the_fast_presets_speed(fresh_speeds: dict) -> None:
    cpu = torch.device("cpu")
    estimate.learn(cpu, torch.float32, seconds=10.0, work=1e6, reference=False)
    estimate.learn(cpu, torch.float32, seconds=15.0, work=1e6, reference=True)
    assert estimate.speed(cpu, torch.float32) == pytest.approx(1e-5)
    assert estimate.speed(cpu, torch.float32, reference=True) == pytest.approx(1.5e-5)
    estimate.learn(cpu, torch.float32, seconds=20.0, work=1e6, reference=False)
    assert estimate.speed(cpu, torch.float32) == pytest.approx(1.5e-5)  # the moving average
    assert estimate.speed(cpu, torch.float32, reference=True) == pytest.approx(1.5e-5)


def test_seconds_uses_the_speed_of_the_presets_kind(fresh_speeds: dict) -> None:
    cpu = torch.device("cpu")
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        estimate.learn(cpu, dtype, seconds=1.0, work=1e6, reference=False)
        estimate.learn(cpu, dtype, seconds=3.0, work=1e6, reference=True)
    for quality, per_unit in (("normal", 1e-6), ("reference", 3e-6)):
        plan = estimate.seconds(Params(quality=quality, device="cpu"), 512, 320)
        assert not any(s["tiled"] for s in plan["scales"])
        # Pixels plus the fixed part, times the steps and the targets' one step, each scale.
        work = sum(
            (s["width"] * s["height"] + estimate.STEP_OVERHEAD_PIXELS) * (s["steps"] + 1)
            for s in plan["scales"]
        )
        assert plan["seconds"] == pytest.approx(per_unit * work, abs=0.1), quality


def test_each_kind_is_measured_on_a_step_of_its_own_objective(fresh_speeds: dict) -> None:
    # Measured, not learnt: each kind's first estimate runs a step of its own objective.
    cpu = torch.device("cpu")
    fast = estimate.speed(cpu, torch.float32)
    reference = estimate.speed(cpu, torch.float32, reference=True)
    assert set(fresh_speeds) == {("cpu", torch.float32, False), ("cpu", torch.float32, True)}
    assert fast > 0 and reference > 0
