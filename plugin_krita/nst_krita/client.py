"""Asynchronous client for the server's HTTP API v1 on QNetworkAccessManager.

Every call returns at once and later runs `callback(response, error)` on the UI thread, with
exactly one of the two set, so Krita never waits on the network. `map_error` turns transport
failures and the server's JSON errors into the plugin's errors for people.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from . import multipart
from .errors import (
    ConnectionLost,
    NSTError,
    ServerError,
    ServerNotRunning,
    ServerTimeout,
    Unauthorized,
)
from .qt import (
    QByteArray,
    QNetworkAccessManager,
    QNetworkProxy,
    QNetworkReply,
    QNetworkRequest,
    QObject,
    QTimer,
    QUrl,
)

DEFAULT_SERVER = "http://127.0.0.1:8765"
API_PREFIX = "/api/v1"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

_E = QNetworkReply.NetworkError
# Transport errors that mean "nothing answers at that address".
NOT_RUNNING = {
    _E.ConnectionRefusedError,
    _E.HostNotFoundError,
    _E.TimeoutError,
}


class Response:
    def __init__(self, status: int, body: bytes, content_type: str = "") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise ServerError(
                "The server sent an answer that is not JSON (HTTP %d)." % self.status
            ) from None


def normalize_url(url: str) -> str:
    url = (url or DEFAULT_SERVER).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return url


def map_error(url, network_error, http_status, body, timed_out=False, started=False, timeout_s=0.0):
    """The error to show for one finished request, or None when it succeeded.

    `started`: a job is already running on the server, so a transport failure means the
    connection was lost rather than that the server was never there.
    """
    if timed_out:
        if started:
            return ConnectionLost(url, "no answer for %d s" % timeout_s)
        return ServerTimeout(url, timeout_s)
    if http_status:
        if http_status < 400:
            return None
        return server_error(http_status, body)
    if network_error == _E.NoError:
        return None
    if network_error in NOT_RUNNING and not started:
        return ServerNotRunning(url)
    return ConnectionLost(url, _describe(network_error))


def server_error(status: int, body: bytes) -> ServerError:
    """The server's JSON error as it wrote it; anything else described plainly."""
    try:
        error = json.loads(body.decode("utf-8"))["error"]
        message, code = str(error["message"]), str(error.get("code", ""))
        field = str(error.get("field") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body[:300].decode("utf-8", "replace").strip()
        return ServerError(
            "The server answered HTTP %d%s" % (status, (": " + text) if text else "."),
            status=status,
        )
    if status == 401 or code == "unauthorized":
        return Unauthorized(
            message + "\n\nSet the server's token in the Neural Style Transfer dialog.",
            code,
            status,
        )
    return ServerError(message, code, status, field)


def _describe(network_error) -> str:
    names = {
        _E.RemoteHostClosedError: "the server closed the connection",
        _E.ConnectionRefusedError: "connection refused",
        _E.HostNotFoundError: "host not found",
        _E.TimeoutError: "timed out",
        _E.OperationCanceledError: "canceled",
    }
    # PyQt6 enums are not ints; PyQt5's are.
    return names.get(
        network_error, "network error %s" % getattr(network_error, "value", network_error)
    )


# Clients with requests in flight. Holding them here keeps the QNetworkAccessManager alive
# until its replies finish: destroying it earlier would call back into freed objects.
_BUSY = set()


class ServerClient(QObject):
    """Talks to one server; `started=True` on a call marks it as part of a running job.

    Create it without a Qt parent: it stays alive by itself while requests are in flight.
    """

    def __init__(
        self, url: str = DEFAULT_SERVER, token: str = "", timeout: float = 30.0, parent=None
    ) -> None:
        super().__init__(parent)
        self.url = normalize_url(url)
        self.token = token or ""
        self.timeout = timeout
        self._net = QNetworkAccessManager(self)
        host = QUrl(self.url).host()
        if host in LOCAL_HOSTS:  # a system proxy must not intercept the local server
            self._net.setProxy(QNetworkProxy(QNetworkProxy.ProxyType.NoProxy))
        self._pending = set()

    # -- the API ------------------------------------------------------------------------
    def health(self, callback):
        return self.request("GET", "/health", callback)

    def info(self, callback):
        return self.request("GET", "/info", callback)

    def estimate(self, width, height, params, callback):
        """About how long a run on a content of this size takes: {"seconds", "device", ...}."""
        query = {"width": int(width), "height": int(height), "params": json.dumps(params or {})}
        return self.request("GET", "/estimate?" + urlencode(query), callback)

    def submit(self, content_png, styles, params, callback, mask_png=None):
        """`styles`: list of (filename, bytes); content_png None: a texture job (its size is
        params["texture"]). Answers 202 {"id", "state", ...}."""
        files = (
            [] if content_png is None else [("content", "content.png", "image/png", content_png)]
        )
        for name, data in styles:
            files.append(("style", name, _image_type(data), data))
        if mask_png is not None:
            files.append(("mask", "mask.png", "image/png", mask_png))
        fields = [("params", json.dumps(params))] if params else []
        body, content_type = multipart.encode(fields, files)
        return self.request("POST", "/jobs", callback, body, content_type, timeout=120.0)

    def job(self, job_id, callback, started=True):
        return self.request("GET", "/jobs/%s" % job_id, callback, started=started)

    def result(self, job_id, callback):
        return self.request(
            "GET", "/jobs/%s/result" % job_id, callback, started=True, timeout=120.0
        )

    def preview(self, job_id, callback):
        return self.request("GET", "/jobs/%s/preview" % job_id, callback, started=True)

    def cancel(self, job_id, callback=None):
        return self.request("DELETE", "/jobs/%s" % job_id, callback or _ignore, started=True)

    # -- transport ----------------------------------------------------------------------
    def request(
        self, method, path, callback, body=None, content_type=None, started=False, timeout=None
    ):
        request = QNetworkRequest(QUrl(self.url + API_PREFIX + path))
        request.setRawHeader(b"Accept", b"application/json, image/png")
        if self.token:
            request.setRawHeader(b"Authorization", ("Bearer " + self.token).encode("utf-8"))
        if content_type:
            request.setHeader(QNetworkRequest.KnownHeaders.ContentTypeHeader, content_type)
        data = QByteArray(body or b"")
        if method == "GET":
            reply = self._net.get(request)
        elif method == "DELETE":
            reply = self._net.deleteResource(request)
        elif method == "POST":
            reply = self._net.post(request, data)
        else:
            reply = self._net.sendCustomRequest(request, method.encode("ascii"), data)
        state = {"timed_out": False}
        timer = QTimer(reply)
        timer.setSingleShot(True)

        def on_timeout():
            state["timed_out"] = True
            reply.abort()

        timer.timeout.connect(on_timeout)
        state["timeout_s"] = timeout or self.timeout
        timer.start(int(1000 * state["timeout_s"]))
        self._pending.add(reply)
        _BUSY.add(self)
        reply.finished.connect(lambda: self._finished(reply, callback, started, state))
        return reply

    def abort_all(self):
        """Drop every request in flight (their callbacks still run, with an error)."""
        for reply in list(self._pending):
            reply.abort()

    def _finished(self, reply, callback, started, state):
        self._pending.discard(reply)
        if not self._pending:
            _BUSY.discard(self)
        status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
        body = bytes(reply.readAll())
        content_type = reply.header(QNetworkRequest.KnownHeaders.ContentTypeHeader) or ""
        error = map_error(
            self.url,
            reply.error(),
            int(status or 0),
            body,
            state["timed_out"],
            started,
            state["timeout_s"],
        )
        reply.deleteLater()
        try:
            if error is None:
                callback(Response(int(status), body, str(content_type)), None)
            else:
                callback(None, error)
        except RuntimeError as exc:
            # The receiver (a job or dialog) was deleted meanwhile, e.g. Krita is closing.
            if "deleted" not in str(exc):
                raise


def _image_type(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    return "application/octet-stream"


def _ignore(response, error):
    pass


def run_blocking(start, timeout=None):
    """Run one asynchronous call to completion in a local event loop (UI stays responsive).

    `start(callback)` issues the call. Returns the Response or raises the NSTError.
    """
    from .qt import QEventLoop, exec_

    loop = QEventLoop()
    outcome = {}

    def done(response, error):
        outcome["response"], outcome["error"] = response, error
        loop.quit()

    start(done)
    if not outcome:
        exec_(loop)
    if outcome.get("error") is not None:
        raise outcome["error"]
    return outcome["response"]


__all__ = ["DEFAULT_SERVER", "NSTError", "Response", "ServerClient", "map_error", "run_blocking"]
