"""What a web page must not do to the local server, refused before anything else runs.

Every page the painter opens in a browser can send requests to 127.0.0.1. Two defences, as
trusted local servers (Jupyter, Ollama) have them:

- Host: a page on a name of its own that resolves to 127.0.0.1 (DNS rebinding) makes
  same-origin requests, without an Origin header, that carry its own name as Host. A server
  listening on loopback answers only Host names that mean this machine; one listening on a
  specific address also answers that address. (On a wildcard address, 0.0.0.0, the server
  cannot know its names; it requires a token there anyway.)
- Origin: browsers add it to cross-site requests. Refused unless on `--allow-origin`, for
  people who do want a browser client; those also get CORS headers and preflight answers.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def allowed_hosts(listen_host: str) -> set[str] | None:
    """Host names (no port, lower case) this server answers; None: any (wildcard address)."""
    host = listen_host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a name, e.g. localhost or the machine's own
        return LOOPBACK_NAMES | {host}
    if address.is_unspecified:
        return None
    return LOOPBACK_NAMES | {str(address)}


def host_name(header: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '::1', 'Example.org' -> 'example.org'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class BrowserGuard:
    def __init__(self, app: WSGIApp, listen_host: str, allow_origins: tuple[str, ...] = ()):
        self.app = app
        self.hosts = allowed_hosts(listen_host)
        self.origins = {o.rstrip("/") for o in allow_origins}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if self.hosts is not None and host is not None and host_name(host) not in self.hosts:
            return _refuse(
                start_response,
                "forbidden_host",
                f"this server answers requests for {', '.join(sorted(self.hosts))}, not "
                f"{host_name(host)!r}: use http://127.0.0.1:<port> (a web page reaching this "
                "server under another name is refused)",
            )
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return self.app(environ, start_response)
        if origin.rstrip("/") not in self.origins:
            return _refuse(
                start_response,
                "forbidden_origin",
                "requests from web pages are refused; use the API from a program, or start the "
                "server with --allow-origin ORIGIN for a browser client you trust",
            )
        cors = [
            ("Access-Control-Allow-Origin", origin),
            ("Vary", "Origin"),
            ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
            ("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
        ]
        if environ.get("REQUEST_METHOD") == "OPTIONS":  # a browser's preflight
            start_response("204 No Content", cors + [("Content-Length", "0")])
            return [b""]

        def with_cors(status: str, headers: list, exc_info: Any = None) -> Any:
            return start_response(status, list(headers) + cors, exc_info)

        return self.app(environ, with_cors)


def _refuse(start_response: Callable[..., Any], code: str, message: str) -> Iterable[bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start_response(
        "403 FORBIDDEN",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
