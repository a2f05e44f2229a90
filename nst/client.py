"""Python client of the style server's HTTP API v1 (docs/api.md).

    >>> from nst.client import Client
    >>> job = Client().submit("photo.png", ["painting.jpg"], {"quality": "draft"})
    >>> job.wait(progress=lambda s: print(f"{s.fraction:.0%}"))
    >>> job.result().save("out.png")

Every failure raises a ClientError whose str() is a complete sentence for the person using
the program: the CLI prints it as it is.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from PIL import Image

DEFAULT_URL = "http://127.0.0.1:8765"
API_PREFIX = "/api/v1"

ImageSource = str | os.PathLike | Image.Image


class ClientError(Exception):
    """Base class: something went wrong talking to the server; str() says what and why."""


class ServerUnavailable(ClientError):
    """Nothing answers at the server's address."""


class AuthError(ClientError):
    """The server wants a token, or a different one."""


class RequestError(ClientError):
    """The server refused a request (4xx). `code` is the API error code, `field` the params
    key at fault (for invalid_params), `status` the HTTP status."""

    def __init__(self, message: str, code: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.code = code
        self.field = field
        self.status = status


class JobFailed(ClientError):
    """The job ran and failed; `code` is the API error code (e.g. out_of_memory)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class JobCanceled(ClientError):
    """The job was canceled (by a DELETE or because the server shut down)."""


@dataclass
class JobStatus:
    """One look at a job, as GET /jobs/<id> reports it."""

    id: str
    state: str  # queued, running, succeeded, failed, canceled
    queue_position: int | None  # 0 = next; None unless queued
    step: int
    steps: int
    fraction: float
    eta: float | None  # seconds left (None early on)
    loss: float | None
    scale: int
    scales: int
    elapsed: float
    error: dict[str, str] | None  # {"code", "message"} when failed or canceled
    width: int
    height: int

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "canceled")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobStatus:
        progress = data.get("progress") or {}
        return cls(
            id=data["id"],
            state=data["state"],
            queue_position=data.get("queue_position"),
            step=progress.get("step", 0),
            steps=progress.get("steps", 0),
            fraction=progress.get("fraction", 0.0),
            eta=progress.get("eta"),
            loss=progress.get("loss"),
            scale=progress.get("scale", 0),
            scales=progress.get("scales", 0),
            elapsed=progress.get("elapsed", 0.0),
            error=data.get("error"),
            width=data.get("width", 0),
            height=data.get("height", 0),
        )


class Client:
    """A connection to one server. `url` may include /api/v1 or not."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 60.0):
        url = url.rstrip("/")
        if url.endswith(API_PREFIX):
            url = url[: -len(API_PREFIX)]
        self.url = url
        self.api = url + API_PREFIX
        self.timeout = timeout
        self.session = requests.Session()
        host = urlsplit(url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            self.session.trust_env = False  # an HTTP_PROXY meant for the internet breaks localhost
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # -- endpoints --------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health").json()

    def info(self) -> dict[str, Any]:
        return self._request("GET", "/info").json()

    def submit(
        self,
        content: ImageSource | None,
        styles: ImageSource | Sequence[ImageSource],
        params: dict[str, Any] | None = None,
        mask: ImageSource | None = None,
    ) -> Job:
        """Queue a job; returns at once with a Job to wait on. Raises RequestError (bad input,
        queue full), AuthError or ServerUnavailable. content None: a texture job, whose size
        is params["texture"] ([width, height]; see texture())."""
        style_list = [styles] if _is_single(styles) else list(styles)  # type: ignore[arg-type]
        if not style_list:
            raise ClientError("At least one style image is needed.")
        files = [] if content is None else [("content", _part(content, "content"))]
        files += [("style", _part(s, f"style{i + 1}")) for i, s in enumerate(style_list)]
        if mask is not None:
            files.append(("mask", _part(mask, "mask")))
        data = {"params": _json(params)} if params else None
        response = self._request("POST", "/jobs", files=files, data=data)
        return Job(self, response.json()["id"])

    def texture(
        self,
        styles: ImageSource | Sequence[ImageSource],
        width: int,
        height: int,
        params: dict[str, Any] | None = None,
        tileable: bool = False,
        progress: Callable[[JobStatus], None] | None = None,
    ) -> Image.Image:
        """A width x height texture of `styles` painted by the server (tileable on request)."""
        params = {**(params or {}), "texture": [width, height], "tileable": tileable}
        return _finish(self.submit(None, styles, params), progress)

    def job(self, job_id: str) -> Job:
        """A handle on an existing job (e.g. one submitted by another program)."""
        return Job(self, job_id)

    def stylize(
        self,
        content: ImageSource,
        styles: ImageSource | Sequence[ImageSource],
        params: dict[str, Any] | None = None,
        mask: ImageSource | None = None,
        progress: Callable[[JobStatus], None] | None = None,
    ) -> Image.Image:
        """Submit, wait and fetch the result; the job is canceled if waiting is interrupted."""
        return _finish(self.submit(content, styles, params, mask), progress)

    # -- plumbing ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.api + path, **kwargs)
        except requests.ConnectionError as exc:
            raise ServerUnavailable(
                f"No style server is answering at {self.url} ({_reason(exc)}). "
                "Start it with `nst serve`, or check the address."
            ) from None
        except requests.Timeout:
            raise ClientError(
                f"The style server at {self.url} did not answer within {self.timeout:g} s; "
                "it may be overloaded. Try again later."
            ) from None
        if response.status_code >= 400:
            raise _error(response, self.url)
        return response


class Job:
    """A job on the server, by id."""

    def __init__(self, client: Client, job_id: str):
        self.client = client
        self.id = job_id

    def __repr__(self) -> str:
        return f"Job({self.id!r})"

    def status(self) -> JobStatus:
        return JobStatus.from_json(self.client._request("GET", f"/jobs/{self.id}").json())

    def wait(
        self,
        progress: Callable[[JobStatus], None] | None = None,
        poll: float = 0.25,
        timeout: float | None = None,
    ) -> JobStatus:
        """Poll until the job ends; calls progress(status) after each poll. Returns the final
        status; raises JobFailed or JobCanceled, or ClientError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if progress is not None:
                progress(status)
            if status.state == "succeeded":
                return status
            if status.state in ("failed", "canceled"):
                raise _job_error(status.state, status.error)
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(
                    f"Job {self.id} did not finish within {timeout:g} s (it is {status.state})."
                )
            time.sleep(poll)

    def result(self) -> Image.Image:
        """The stylised image (content's size, alpha kept). RequestError(code='not_ready')
        while it runs; JobFailed or JobCanceled when it ended without a result."""
        try:
            response = self.client._request("GET", f"/jobs/{self.id}/result")
        except RequestError as exc:
            if exc.code == "not_ready" or exc.status not in (409, 410):
                raise
            status = self.status()  # the job's own error, worded for people
            raise _job_error(status.state, status.error) from None
        return _load_png(response.content)

    def preview(self) -> Image.Image | None:
        """The latest intermediate image, or None before the first step."""
        try:
            response = self.client._request("GET", f"/jobs/{self.id}/preview")
        except RequestError as exc:
            if exc.code == "no_preview":
                return None
            raise
        return _load_png(response.content)

    def cancel(self) -> str:
        """Cancel a queued or running job, or discard a finished one; returns its state."""
        return self.client._request("DELETE", f"/jobs/{self.id}").json()["state"]


# -- helpers ------------------------------------------------------------------------------
def _finish(job: Job, progress: Callable[[JobStatus], None] | None) -> Image.Image:
    """Wait for a submitted job and fetch its result; cancel it if waiting is interrupted."""
    try:
        job.wait(progress=progress)
    except KeyboardInterrupt:
        job.cancel()
        raise
    return job.result()


def _is_single(styles: Any) -> bool:
    return isinstance(styles, (str, Image.Image)) or hasattr(styles, "__fspath__")


def _part(source: ImageSource, name: str) -> tuple[str, bytes, str]:
    """A multipart file: PIL images are sent as PNG, files as they are (the server reads
    PNG, JPEG, WebP, TIFF, BMP)."""
    if isinstance(source, Image.Image):
        out = io.BytesIO()
        source.save(out, "PNG", compress_level=1)  # fast; the bytes only cross localhost
        return f"{name}.png", out.getvalue(), "image/png"
    path = os.fspath(source)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ClientError(f"Cannot read the {name} image {path}: {exc.strerror or exc}.") from None
    return os.path.basename(path), data, "application/octet-stream"


def _json(params: dict[str, Any]) -> str:
    try:
        return json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise ClientError(f"The params cannot be sent as JSON: {exc}.") from None


def _load_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return "connection failed"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _error(response: requests.Response, url: str) -> ClientError:
    try:
        body = response.json()["error"]
        code, message, field = body["code"], body["message"], body.get("field")
    except (ValueError, KeyError, TypeError):
        code, message, field = "http_error", f"HTTP {response.status_code}", None
    status = response.status_code
    if status == 401:
        return AuthError(
            _sentence(f"The style server at {url} refused the request: {message}")
            + " Pass the server's token (--token or NST_TOKEN)."
        )
    if status == 429:
        wait = response.headers.get("Retry-After", "a few")
        return RequestError(
            f"The style server is busy: its queue is full. Try again in {wait} seconds.",
            code,
            field,
            status,
        )
    if 400 <= status < 500:
        return RequestError(
            _sentence(f"The server refused the request: {message}"), code, field, status
        )
    return ClientError(_sentence(f"The style server failed (HTTP {status}, {code}): {message}"))


def _job_error(state: str, error: dict[str, str] | None) -> ClientError:
    error = error or {"code": "job_failed", "message": "no reason given"}
    message = error.get("message", "")
    if state == "canceled":
        return JobCanceled(_sentence(f"The job was canceled ({message})"))
    code = error.get("code", "job_failed")
    return JobFailed(_sentence(f"The style job failed: {message}"), code)
