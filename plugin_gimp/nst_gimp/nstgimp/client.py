"""The server's HTTP API (docs/api.md) with the standard library: submit, poll, fetch, cancel.

A plug-in is its own process, so blocking calls do not freeze GIMP; `run_job` polls the job
and reports progress through a callback that may ask to cancel.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

from .errors import (
    DEFAULT_URL,
    Canceled,
    ConnectionLost,
    JobFailed,
    NSTError,
    ServerError,
    ServerNotRunning,
    Unauthorized,
)

try:
    from . import multipart  # copied from the Krita plugin by install.py
except ImportError:  # the source tree: the one copy lives in the Krita plugin
    sys.path.append(
        os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugin_krita", "nst_krita")
    )
    import multipart  # type: ignore[no-redef]

API = "/api/v1"
POLL_SECONDS = 0.25
FINAL = ("succeeded", "failed", "canceled")


def normalize_url(url: str) -> str:
    """'' -> the default; adds http://; drops a trailing slash or /api/v1."""
    url = (url or "").strip() or DEFAULT_URL
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    if url.endswith(API):
        url = url[: -len(API)]
    return url


class ServerClient:
    def __init__(self, url: str = "", token: str = "", timeout: float = 30.0) -> None:
        self.url = normalize_url(url)
        self.token = token or ""
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes = b"", content_type: str = ""):
        """(status, body bytes) of a 2xx answer; the server's own message on any error."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(
            self.url + API + path, data=body or None, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            raise self._server_error(error.code, error.read()) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, (ConnectionRefusedError, socket.gaierror, FileNotFoundError)):
                raise ServerNotRunning(self.url) from None
            raise ConnectionLost(self.url, str(reason)) from None
        except (http.client.HTTPException, ConnectionError, socket.timeout) as error:
            raise ConnectionLost(self.url, str(error) or type(error).__name__) from None

    def json(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> dict:
        _, data = self.request(method, path, body, content_type)
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            raise NSTError(
                "The server at %s sent an answer that is not JSON; is it the style-transfer "
                "server?" % self.url
            ) from None

    def _server_error(self, status: int, data: bytes) -> NSTError:
        try:
            error = json.loads(data.decode("utf-8"))["error"]
            message, code = str(error["message"]), str(error.get("code", ""))
        except (ValueError, KeyError, TypeError):
            message, code = "HTTP %d from %s" % (status, self.url), ""
        if status == 401:
            return Unauthorized(
                message + ". Set Token to the server's token (its NST_TOKEN or --token).",
                code,
                status,
            )
        return ServerError(message, code, status)

    # -- the API -------------------------------------------------------------------------
    def health(self) -> dict:
        return self.json("GET", "/health")

    def submit(self, content_png: bytes, styles, params: dict, mask_png: bytes = b"") -> dict:
        """styles: list of (file name, bytes). Returns the new job's JSON (id, state...).
        content_png None: a texture job, whose size is params["texture"]."""
        files = (
            [] if content_png is None else [("content", "content.png", "image/png", content_png)]
        )
        files += [("style", name, "application/octet-stream", data) for name, data in styles]
        if mask_png:
            files.append(("mask", "mask.png", "image/png", mask_png))
        body, content_type = multipart.encode([("params", json.dumps(params))], files)
        return self.json("POST", "/jobs", body, content_type)

    def status(self, job_id: str) -> dict:
        return self.json("GET", "/jobs/" + job_id)

    def result(self, job_id: str) -> bytes:
        return self.request("GET", "/jobs/%s/result" % job_id)[1]

    def cancel(self, job_id: str) -> None:
        try:
            self.request("DELETE", "/jobs/" + job_id)
        except NSTError:
            pass  # gone already, or the server is: nothing left to cancel


def describe(status: dict) -> str:
    """A progress line: 'Scale 2/3, step 40 of 90, about 12 s left'."""
    if status.get("state") == "queued":
        return "Waiting for the server (%s ahead)" % (status.get("queue_position") or 0)
    progress = status.get("progress") or {}
    parts = []
    if progress.get("scales"):
        parts.append("Scale %s/%s" % (progress.get("scale", 1), progress["scales"]))
    if progress.get("steps"):
        parts.append("step %s of %s" % (progress.get("step", 0), progress["steps"]))
    eta = progress.get("eta")
    if eta is not None:
        parts.append("about %d s left" % max(1, round(eta)))
    return "Neural style: " + (", ".join(parts) if parts else "starting")


def run_job(client: ServerClient, job_id: str, on_progress, poll: float = POLL_SECONDS) -> bytes:
    """Follow a submitted job to its end and return the result PNG.

    on_progress(fraction, text) is called after every poll; if it returns False, the job is
    canceled on the server and Canceled is raised.
    """
    while True:
        status = client.status(job_id)
        state = status.get("state")
        if state == "succeeded":
            on_progress(1.0, "Neural style: fetching the result")
            return client.result(job_id)
        if state == "failed":
            error = status.get("error") or {}
            raise JobFailed(
                "The style transfer failed: %s" % error.get("message", "no reason given"),
                str(error.get("code", "")),
            )
        if state == "canceled":
            raise Canceled()
        fraction = float((status.get("progress") or {}).get("fraction") or 0.0)
        if on_progress(fraction, describe(status)) is False:
            client.cancel(job_id)
            raise Canceled()
        time.sleep(poll)
