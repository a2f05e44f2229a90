"""Jobs, the bounded FIFO queue and the worker that runs them one at a time on the device.

Request threads only read a job's fields or change its state under the manager's lock; the
worker thread is the only one that runs the engine. A failing job is recorded with its error
code and the worker goes on with the next one.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

import nst
from nst.images import DEFAULT_MAX_PIXELS
from server.config import ServerConfig
from server.uploads import CheckedImage

log = logging.getLogger("server.jobs")

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "canceled",
)
FINISHED = (SUCCEEDED, FAILED, CANCELED)
PREVIEW_MIN_INTERVAL = 0.5  # seconds; a preview costs a tensor -> PNG conversion


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__("queue full")
        self.retry_after = retry_after


def encode_png(image: Image.Image, compress_level: int = 1) -> bytes:
    # Level 1: several times faster than the default, files ~10% larger; fine on localhost.
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=compress_level)
    return out.getvalue()


Source = Image.Image | CheckedImage  # checked uploads are decoded by the worker


def _open(source: Source) -> Image.Image:
    return source.open() if isinstance(source, CheckedImage) else source


@dataclass(eq=False)
class Job:
    content: Source | None
    styles: list[Source]
    params: nst.Params
    mask: Source | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = QUEUED
    width: int = 0
    height: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: dict[str, str] | None = None
    result_png: bytes | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    progress: dict[str, Any] = field(default_factory=dict)
    _last: nst.Progress | None = None  # holds the live image tensor while running
    _preview_png: bytes | None = None
    _preview_at: float = 0.0
    _preview_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.content is not None:
            self.width, self.height = self.content.size
        elif self.params.texture:  # a texture: no content, a size
            self.width, self.height = self.params.texture
        self.progress = empty_progress()

    def on_progress(self, p: nst.Progress) -> None:
        """Engine callback, once per step: cheap, one dict swap; no image conversion."""
        self._last = p
        self.progress = {
            "step": p.step,
            "steps": p.steps,
            "fraction": round(p.fraction, 4),
            "eta": None if p.eta is None else round(p.eta, 2),
            "scale": p.scale,
            "scales": p.scales,
            "tile": p.tile,
            "tiles": p.tiles,
            "loss": p.loss if math.isfinite(p.loss) else None,
            "elapsed": round(p.elapsed, 3),
        }

    def preview_png(self) -> bytes | None:
        """The latest intermediate image as PNG, converted at most every 0.5 s on demand."""
        if self.result_png is not None:
            return self.result_png
        with self._preview_lock:
            last = self._last
            fresh = time.monotonic() - self._preview_at < PREVIEW_MIN_INTERVAL
            if last is not None and not fresh:
                self._preview_png = encode_png(last.preview())
                self._preview_at = time.monotonic()
            return self._preview_png


def empty_progress() -> dict[str, Any]:
    return {
        "step": 0,
        "steps": 0,
        "fraction": 0.0,
        "eta": None,
        "scale": 0,
        "scales": 0,
        "tile": 0,
        "tiles": 0,
        "loss": None,
        "elapsed": 0.0,
    }


class JobManager:
    """A bounded FIFO of jobs, one worker thread, and finished jobs kept for a while."""

    def __init__(
        self,
        *,
        queue_size: int = 16,
        result_ttl: float = 600.0,
        max_results: int = 32,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        self.queue_size = queue_size
        self.result_ttl = result_ttl
        self.max_results = max_results
        self.max_pixels = max_pixels
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[Job] = deque()
        self._jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._stopping = False
        self._durations: deque[float] = deque(maxlen=8)
        self._thread = threading.Thread(target=self._work, name="nst-worker", daemon=True)

    @classmethod
    def from_config(cls, config: ServerConfig) -> JobManager:
        return cls(
            queue_size=config.queue_size,
            result_ttl=config.result_ttl,
            max_results=config.max_results,
            max_pixels=config.max_pixels,
        )

    # -- requests ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def check_room(self) -> None:
        """Raise QueueFull now, before an upload is decoded for nothing."""
        with self._lock:
            if self._stopping or len(self._queue) >= self.queue_size:
                raise QueueFull(5 if self._stopping else self._retry_after())

    def submit(self, job: Job) -> int:
        """Queue a job; returns its queue position (0 = next). Raises QueueFull."""
        with self._wake:
            self._prune()
            if self._stopping:
                raise QueueFull(5)
            if len(self._queue) >= self.queue_size:
                raise QueueFull(self._retry_after())
            self._queue.append(job)
            self._jobs[job.id] = job
            self._wake.notify()
            return len(self._queue) - 1

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def status(self, job: Job) -> dict[str, Any]:
        with self._lock:
            position = self._queue.index(job) if job.state == QUEUED else None
            state = job.state
        return {
            "id": job.id,
            "state": state,
            "queue_position": position,
            "progress": job.progress,
            "error": job.error,
            "width": job.width,
            "height": job.height,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
        }

    def cancel(self, job: Job, wait: float = 2.0) -> str:
        """Cancel a queued or running job; returns its state afterwards (always final)."""
        with self._lock:
            if job.state == QUEUED:
                self._queue.remove(job)
                self._finish(job, CANCELED, {"code": "canceled", "message": "canceled by request"})
                return CANCELED
            if job.state != RUNNING:
                return job.state
            job.cancel_event.set()
        # The engine checks the flag before every step; give it a moment to let go.
        job.done.wait(wait)
        with self._lock:
            if job.state == RUNNING:  # still inside a long step: it is canceled all the same
                self._finish(job, CANCELED, {"code": "canceled", "message": "canceled by request"})
            return job.state

    def discard(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)

    def queue_info(self) -> dict[str, Any]:
        with self._lock:
            return {
                "length": len(self._queue),
                "max": self.queue_size,
                "running": self._running.id if self._running else None,
            }

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything and wait for the worker (it stops within one optimiser step)."""
        self.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stop(self) -> None:
        """Cancel every job and tell the worker to end; returns at once."""
        with self._wake:
            self._stopping = True
            while self._queue:
                job = self._queue.popleft()
                self._finish(
                    job,
                    CANCELED,
                    {"code": "server_shutdown", "message": "the server is shutting down"},
                )
            if self._running is not None:
                self._running.cancel_event.set()
            self._wake.notify_all()

    # -- internals (call with the lock held) ------------------------------------------------
    def _finish(self, job: Job, state: str, error: dict[str, str] | None = None) -> None:
        if job.state in FINISHED:
            return
        job.state, job.error, job.finished = state, error, time.time()
        job.content, job.styles, job.mask = None, [], None  # free the inputs now
        job.done.set()

    def _retry_after(self) -> int:
        per_job = sum(self._durations) / len(self._durations) if self._durations else 10.0
        running = self._running.progress.get("eta") if self._running else None
        return max(1, round(running if running is not None else per_job))

    def _prune(self) -> None:
        now = time.time()
        done = sorted(
            (j for j in self._jobs.values() if j.state in FINISHED), key=lambda j: j.finished or 0
        )
        excess = len(done) - self.max_results
        for i, job in enumerate(done):
            if i < excess or now - (job.finished or now) > self.result_ttl:
                del self._jobs[job.id]

    # -- the worker -------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stopping:
                    self._wake.wait(timeout=min(30.0, max(1.0, self.result_ttl / 4)))
                    self._prune()
                if self._stopping:
                    return
                job = self._queue.popleft()
                job.state, job.started = RUNNING, time.time()
                self._running = job
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running = None

    def _stylize(self, job: Job) -> Image.Image:
        content = _open(job.content)
        # EXIF orientation stored after the pixels is only seen now: report that size.
        job.width, job.height = content.size
        return nst.stylize(
            content,
            [_open(style) for style in job.styles],
            job.params,
            mask=None if job.mask is None else _open(job.mask),
            progress=job.on_progress,
            cancel=job.cancel_event,
            max_pixels=self.max_pixels,
        )

    def _texture(self, job: Job) -> Image.Image:
        from nst.texture import texture

        width, height = job.params.texture
        return texture(
            [_open(style) for style in job.styles],
            width,
            height,
            job.params,
            tileable=job.params.tileable,
            progress=job.on_progress,
            cancel=job.cancel_event,
            max_pixels=self.max_pixels,
        )

    def _run(self, job: Job) -> None:
        log.info("job %s started (%dx%d)", job.id, job.width, job.height)
        state, error, png = FAILED, None, None
        try:
            result = self._stylize(job) if job.content is not None else self._texture(job)
            png = encode_png(result)
            state = SUCCEEDED
        except nst.Cancelled:
            state, error = CANCELED, {"code": "canceled", "message": "canceled by request"}
        except (nst.OutOfMemory, MemoryError):
            error = {
                "code": "out_of_memory",
                "message": (
                    f"out of memory at size {job.params.size_text}: use a smaller size or "
                    "quality, or a device with more memory"
                ),
            }
        except nst.ImageError as exc:
            error = {"code": "invalid_image", "message": str(exc)}
        except nst.ParamsError as exc:
            error = {"code": "invalid_params", "message": str(exc)}
        except nst.WeightsError as exc:
            error = {"code": "weights_error", "message": str(exc)}
        except nst.NumericalError as exc:
            error = {"code": "numerical_error", "message": str(exc)}
        except Exception as exc:  # the worker must survive anything one job does
            log.exception("job %s failed", job.id)
            error = {"code": "job_failed", "message": f"the style run failed: {exc}"}
        finally:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        with self._lock:
            job._last = None  # let go of the live tensor; the cached preview PNG stays
            if job.cancel_event.is_set() and state == SUCCEEDED:  # canceled on its last step
                state, error, png = (
                    CANCELED,
                    {"code": "canceled", "message": "canceled by request"},
                    None,
                )
            if state == CANCELED and self._stopping:
                error = {"code": "server_shutdown", "message": "the server is shutting down"}
            if job.state == RUNNING:  # not already marked canceled by a DELETE that timed out
                job.result_png = png
                self._finish(job, state, error)
                if state == SUCCEEDED and job.started:
                    self._durations.append(job.finished - job.started)
        log.info("job %s %s%s", job.id, state, f" ({error['code']})" if error else "")
