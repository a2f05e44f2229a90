"""One style-transfer job on the server: submit, poll progress and previews, fetch, cancel.

A `StyleJob` is driven by a QTimer and the client's callbacks, all on Krita's UI thread, and
reports through Qt signals. It never touches the document: the caller decides what to do
with the result (see `document.insert_result`). The one thing done off the UI thread is
encoding the layer as PNG, which takes seconds for a big layer and would freeze Krita.
"""

from __future__ import annotations

import threading

from .errors import Canceled, JobFailed, NSTError
from .qt import QObject, Qt, QTimer, pyqtSignal

POLL_MS = 400
PREVIEW_EVERY_MS = 1500


class StyleJob(QObject):
    submitted = pyqtSignal(str)  # job id
    progress = pyqtSignal(object)  # the server's job status dict
    preview = pyqtSignal(bytes)  # PNG of the latest intermediate image
    succeeded = pyqtSignal(bytes)  # PNG of the result, the content's size
    failed = pyqtSignal(object)  # an NSTError (Canceled when the user canceled)
    _encoded = pyqtSignal(object)  # from the encoding thread: (content, mask) PNGs or an error

    def __init__(
        self, client, content_png, styles, params, mask_png=None, want_preview=True, parent=None
    ):
        """content_png, mask_png: PNG bytes, or callables that make them (called on a worker
        thread, so they may only do QImage work: no Krita calls)."""
        super().__init__(parent)
        self.client = client
        self.content_png = content_png
        self.styles = styles
        self.params = params
        self.mask_png = mask_png
        self.want_preview = want_preview
        self.job_id = None
        self.state = "new"
        self.last_status = {}
        self._finished = False
        self._preview_pending = False
        self._last_preview_step = -1
        self._poll = QTimer(self)
        self._poll.setSingleShot(True)
        self._poll.timeout.connect(self._request_status)
        self._preview_timer = QTimer(self)
        self._preview_timer.setInterval(PREVIEW_EVERY_MS)
        self._preview_timer.timeout.connect(self._request_preview)

    @property
    def finished(self) -> bool:
        return self._finished

    def start(self):
        if callable(self.content_png) or callable(self.mask_png):
            self.state = "encoding"
            # Queued: the thread's signal is delivered on the UI thread, this object's thread.
            self._encoded.connect(self._on_encoded, Qt.ConnectionType.QueuedConnection)
            threading.Thread(target=self._encode, name="nst-encode", daemon=True).start()
        else:
            self._submit()

    def _encode(self):
        try:
            outcome = (_made(self.content_png), _made(self.mask_png))
        except NSTError as exc:
            outcome = exc
        except Exception as exc:  # e.g. MemoryError: reported to the user, not lost here
            outcome = NSTError("Could not encode the layer as PNG (%s)." % exc)
        try:
            self._encoded.emit(outcome)
        except RuntimeError:
            pass  # the job object was deleted meanwhile (Krita closing): nobody to tell

    def _on_encoded(self, outcome):
        if self._finished:  # canceled while encoding: nothing was sent
            return
        if isinstance(outcome, Exception):
            return self._fail(outcome)
        self.content_png, self.mask_png = outcome
        self._submit()

    def _submit(self):
        self.state = "submitting"
        self.client.submit(
            self.content_png, self.styles, self.params, self._on_submitted, self.mask_png
        )

    def cancel(self):
        """Stop here and cancel the job on the server (if it was created)."""
        if self._finished:
            return
        if self.job_id is not None:
            self.client.cancel(self.job_id)
        self._fail(Canceled())

    # -- steps ---------------------------------------------------------------------------
    def _on_submitted(self, response, error):
        if self._finished:
            # Canceled while the upload ran: the job exists now, so cancel it there too.
            if response is not None and _job_id(response):
                self.client.cancel(_job_id(response))
            return
        if error is not None:
            return self._fail(error)
        try:
            self.job_id = _job_id(response)
        except NSTError as exc:
            return self._fail(exc)
        self.state = "queued"
        self.submitted.emit(self.job_id)
        if self.want_preview:
            self._preview_timer.start()
        self._request_status()

    def _request_status(self):
        if not self._finished:
            self.client.job(self.job_id, self._on_status)

    def _on_status(self, response, error):
        if self._finished:
            return
        if error is not None:
            return self._fail(error)
        try:
            status = response.json()
        except NSTError as exc:
            return self._fail(exc)
        self.last_status = status
        self.state = status.get("state", "unknown")
        self.progress.emit(status)
        if self.state == "succeeded":
            self._preview_timer.stop()
            self.client.result(self.job_id, self._on_result)
        elif self.state == "failed":
            err = status.get("error") or {}
            self._fail(
                JobFailed(
                    str(err.get("message") or "The job failed on the server."),
                    str(err.get("code") or ""),
                )
            )
        elif self.state == "canceled":
            self._fail(JobFailed("The job was canceled on the server.", "canceled"))
        else:
            self._poll.start(POLL_MS)

    def _request_preview(self):
        step = ((self.last_status or {}).get("progress") or {}).get("step")
        if self._finished or self._preview_pending or self.state != "running":
            return
        if step is None or step == self._last_preview_step:
            return
        self._preview_pending = True
        self._last_preview_step = step
        self.client.preview(self.job_id, self._on_preview)

    def _on_preview(self, response, error):
        self._preview_pending = False
        # A missing preview (404 no_preview, or a hiccup) is no reason to stop the job.
        if not self._finished and error is None and response.body:
            self.preview.emit(response.body)

    def _on_result(self, response, error):
        if self._finished:
            return
        if error is not None:
            return self._fail(error)
        self._finished = True
        self.state = "done"
        self.client.cancel(self.job_id)  # discard it on the server: we have the result
        self.succeeded.emit(response.body)

    def _fail(self, error):
        if self._finished:
            return
        self._finished = True
        self.state = "canceled" if isinstance(error, Canceled) else "failed"
        self._poll.stop()
        self._preview_timer.stop()
        self.failed.emit(error)


def _made(png):
    return png() if callable(png) else png


def _job_id(response) -> str:
    data = response.json()
    job_id = data.get("id") if isinstance(data, dict) else None
    if not job_id:
        raise NSTError("The server accepted the job but sent no job id.")
    return str(job_id)


def format_progress(status) -> str:
    """'Step 12 of 80 · scale 2/3 · about 14 s left' from a job status dict."""
    state = status.get("state")
    if state == "queued":
        position = status.get("queue_position")
        if position:
            return "Waiting in the server's queue (position %s)..." % position
        return "Waiting in the server's queue..."
    progress = status.get("progress") or {}
    parts = []
    if progress.get("steps"):
        parts.append("Step %s of %s" % (progress.get("step", 0), progress["steps"]))
    if (progress.get("scales") or 0) > 1:
        parts.append("scale %s/%s" % (progress.get("scale"), progress["scales"]))
    if progress.get("tiles"):  # a large scale works in tiles, two passes over them a step
        parts.append("tile pass %s/%s" % (progress.get("tile", 0), progress["tiles"]))
    eta = progress.get("eta")
    if eta is not None:
        parts.append("about %s left" % format_seconds(eta))
    return " \u00b7 ".join(parts) or "Starting..."


def format_seconds(seconds) -> str:
    seconds = max(0, int(round(float(seconds))))
    if seconds < 60:
        return "%d s" % seconds
    return "%d min %02d s" % (seconds // 60, seconds % 60)
