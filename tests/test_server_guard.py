"""Browser defence: Host (DNS rebinding) and Origin, before any route or the fast path."""

from __future__ import annotations

import requests

from server.guard import BrowserGuard, allowed_hosts, host_name
from server.testing import ServerProcess


def call(guard: BrowserGuard, **environ: str) -> tuple[str, dict, bytes]:
    seen: dict = {}

    def start_response(status: str, headers: list, exc_info=None) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(guard({"REQUEST_METHOD": "GET", "PATH_INFO": "/", **environ}, start_response))
    return seen["status"], seen["headers"], body


def inner(environ: dict, start_response) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_host_names_that_mean_this_machine() -> None:
    assert host_name("127.0.0.1:8765") == "127.0.0.1"
    assert host_name("[::1]:8765") == "::1"
    assert host_name("LocalHost") == "localhost"
    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert "192.168.1.5" in allowed_hosts("192.168.1.5")
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("::") is None


def test_dns_rebinding_hosts_are_refused_and_local_ones_pass() -> None:
    guard = BrowserGuard(inner, "127.0.0.1")
    for good in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "localhost"):
        assert call(guard, HTTP_HOST=good)[0] == "200 OK", good
    status, _, body = call(guard, HTTP_HOST="attacker.example:8765")
    assert status.startswith("403") and b"forbidden_host" in body
    assert b"attacker.example" in body


def test_origins_are_refused_unless_allowed_and_allowed_ones_get_cors() -> None:
    guard = BrowserGuard(inner, "127.0.0.1", ("http://localhost:3000",))
    status, headers, body = call(guard, HTTP_HOST="127.0.0.1", HTTP_ORIGIN="https://evil.example")
    assert status.startswith("403") and b"forbidden_origin" in body
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, body = call(guard, HTTP_HOST="127.0.0.1", HTTP_ORIGIN="http://localhost:3000")
    assert status == "200 OK" and body == b"ok"
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    status, headers, _ = call(
        guard, REQUEST_METHOD="OPTIONS", HTTP_HOST="127.0.0.1", HTTP_ORIGIN="http://localhost:3000"
    )
    assert status.startswith("204") and "Authorization" in headers["Access-Control-Allow-Headers"]


def test_real_server_refuses_a_rebound_host_even_for_status_polls() -> None:
    with ServerProcess("--allow-origin", "http://localhost:3000") as server:
        ok = requests.get(server.api + "/health", timeout=5)
        assert ok.status_code == 200  # requests sends Host: 127.0.0.1:<port>
        for path in ("/info", "/jobs/0123456789abcdef", "/health"):
            refused = requests.get(
                server.api + path, headers={"Host": f"rebound.example:{server.port}"}, timeout=5
            )
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "forbidden_host"
        allowed = requests.get(
            server.api + "/info", headers={"Origin": "http://localhost:3000"}, timeout=5
        )
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
