"""One scale's optimisation: L-BFGS (or Adam) on the image, with a budget of loss evaluations.

The engine (nst/engine.py) runs this for every scale of stylize, the texture and the
reconstruction. The closure it hands the optimiser does the bookkeeping: cancel and
progress within one evaluation, the best image seen (line searches also try worse points),
and the arithmetic's failures (a NaN at the start of a scale is the device's; an overflow
of the optimiser's own float32 arithmetic goes on in float64).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Protocol, Union

import torch

from nst import heap, memory
from nst.errors import Cancelled
from nst.losses import Objective
from nst.params import Params

CancelFlag = Union[threading.Event, Callable[[], bool], None]  # noqa: UP007 (runtime alias)


class StepReporter(Protocol):
    def step(self, loss: float, image: torch.Tensor) -> None: ...


def is_cancelled(cancel: CancelFlag) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def check_cancel(cancel: CancelFlag) -> None:
    """Raise Cancelled if the run was cancelled: the one check every stopping point makes."""
    if is_cancelled(cancel):
        raise Cancelled("cancelled")


class NonFinite(Exception):
    """Raised inside the closure when the loss or its gradient is NaN or infinite."""


class _BudgetSpent(Exception):
    """Raised inside the closure to end a scale when its evaluations are used up."""


class _Overflow(Exception):
    """Raised inside the closure when the optimiser has made the image itself NaN."""


def optimise_scale(
    params: Params,
    objective: Objective,
    start: torch.Tensor,
    iterations: int,
    cancel: CancelFlag,
    tracker: StepReporter,
) -> torch.Tensor:
    """Optimise one scale with a budget of `iterations` loss evaluations; return the best image.

    A step is one evaluation of the loss and its gradient (the unit of cost): the cancel flag
    and progress are handled inside the closure, so L-BFGS can run its line search and keep
    its history in one `step()` call while cancel still acts within one evaluation.
    """
    # L-BFGS's first step moves the variables by 1 in total (L1), which for an image in 0..255
    # is nothing and leaves the first curvature pair to noise (fatal in bf16). Optimising
    # image / k with k = pixel count makes that first step about one grey level per pixel;
    # later steps are quasi-Newton and do not depend on k. The reference runs as neural-style
    # does: plain L-BFGS on the image itself.
    reference = params.is_reference
    k = float(start.numel()) if params.optimizer == "lbfgs" and not reference else 1.0
    history = memory.lbfgs_history(start[0, 0].numel())
    # The losses are means, so per-pixel gradients shrink with image size; L-BFGS skips
    # curvature pairs below 1e-10 and stalls on tiny gradients. Scaling by the pixel count
    # keeps the gradient's size independent of the image size.
    grad_scale = 1.0 if reference else float(start.numel())
    best = {"loss": float("inf"), "image": start}
    evaluations = 0

    def begin(
        image: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.optim.Optimizer]:
        var = (image.detach().to(dtype) / k).contiguous().requires_grad_(True)
        budget = iterations - evaluations
        return var, make_optimizer(params, var, budget, history)

    var, optimizer = begin(start, torch.float32)

    def closure() -> torch.Tensor:
        nonlocal evaluations
        if evaluations == iterations:
            raise _BudgetSpent
        check_cancel(cancel)
        image = (var * k).detach().float()
        value, grad = objective.value_and_grad(image, grad_scale)
        if not (math.isfinite(value) and bool(torch.isfinite(grad).all())):
            # The start of a scale is a sound image: a NaN there is the device's arithmetic
            # failing. Later, a NaN image is the optimiser's own arithmetic overflowing; a
            # line search's far trial point is infinitely bad, and the search steps back.
            if evaluations == 0:
                raise NonFinite
            if not bool(torch.isfinite(image).all()):
                raise _Overflow
            value, grad = math.inf, torch.zeros_like(grad)
        var.grad = grad.to(var.dtype).mul_(k)  # d/dvar of f(var * k)
        evaluations += 1
        if value < best["loss"]:  # line searches also try worse points: keep the best
            best["loss"], best["image"] = value, image  # a new tensor every evaluation
        tracker.step(value, image)
        return value * grad_scale

    with heap.keep_freed_memory():  # every step frees what the next one allocates
        while True:
            try:
                if params.optimizer == "lbfgs":
                    optimizer.step(closure)
                while evaluations < iterations:  # Adam: one evaluation per step
                    optimizer.step(closure)
                break
            except _BudgetSpent:
                break
            except _Overflow:
                # The optimiser's own float32 arithmetic overflowed (its line search squares
                # products of gradients, up to 1e54 from a noise start): it goes on in float64
                # from the best image so far, with half the history to keep the memory.
                if var.dtype == torch.float64:
                    raise NonFinite from None
                history = max(memory.MIN_HISTORY, history // 2)
                var, optimizer = begin(best["image"], torch.float64)
    if not math.isfinite(best["loss"]):  # no evaluation gave a finite loss
        raise NonFinite
    return best["image"].clamp(0, 255)


def make_optimizer(
    params: Params, image: torch.Tensor, evaluations: int, history: int
) -> torch.optim.Optimizer:
    if params.optimizer == "adam":
        return torch.optim.Adam([image], lr=params.learning_rate)
    if params.is_reference:
        # neural-style's optim.lbfgs: 100 corrections, no line search, never stops early.
        settings = {"history_size": 100, "line_search_fn": None, "tolerance_change": -1.0}
    else:
        # The strong-Wolfe line search costs nothing when the quasi-Newton step is good (it
        # is accepted at once) and guards against a poor curvature estimate after a scale
        # change. A zero step (a failed line search) ends step(); the caller starts again.
        # History is bounded by memory (nst/memory.py): 50 up to about 2 megapixels.
        settings = {
            "history_size": history,
            "line_search_fn": "strong_wolfe",
            "tolerance_change": 0.0,
        }
    return torch.optim.LBFGS(
        [image],
        lr=1.0,
        max_iter=evaluations,
        max_eval=evaluations + 1,
        tolerance_grad=-1.0,  # never stop on a small gradient: the budget decides
        **settings,
    )
