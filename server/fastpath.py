"""A shortcut for the hottest request, GET /api/v1/jobs/<id>, around the Flask app.

Clients poll job status several times a second; on a small machine each poll's cost is CPU
taken from the running job. This answers the ordinary case (authorised, known job) without
Flask's request machinery; anything else (unknown id, bad token, a browser's Origin, other
routes) goes to the Flask app, which answers it with the usual errors.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable
from typing import Any

from server.config import API_PREFIX
from server.jobs import JobManager

JOBS = API_PREFIX + "/jobs/"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StatusFastPath:
    def __init__(self, app: WSGIApp, manager: JobManager, token: str | None):
        self.app = app
        self.manager = manager
        self.expected = f"Bearer {token}".encode() if token else None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") == "GET"
            and path.startswith(JOBS)
            and "/" not in path[len(JOBS) :]
            and "HTTP_ORIGIN" not in environ
            and self._authorised(environ)
        ):
            job = self.manager.get(path[len(JOBS) :])
            if job is not None:
                body = json.dumps(self.manager.status(job), separators=(",", ":")).encode()
                start_response(
                    "200 OK",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)

    def _authorised(self, environ: dict[str, Any]) -> bool:
        if self.expected is None:
            return True
        given = environ.get("HTTP_AUTHORIZATION", "").encode("utf-8", "replace")
        return hmac.compare_digest(given, self.expected)
