"""Krita plugin: HTTP client, job flow and error mapping, against a scripted stand-in server.

Fast unit tests only; the real server is exercised by the end-to-end Krita tests.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import plugin_env  # noqa: E402

APP = plugin_env.setup()

from nst_krita import errors, job  # noqa: E402
from nst_krita.api import wait_for  # noqa: E402
from nst_krita.client import ServerClient, map_error, normalize_url, run_blocking  # noqa: E402
from PIL import Image  # noqa: E402
from stub_server import (  # noqa: E402
    JSON,
    StubServer,
    body,
    free_port,
    job_routes,
    parse_multipart,
    png,
)


@pytest.fixture()
def stub():
    with StubServer() as server:
        yield server


def call(method_name, client, *args):
    return run_blocking(lambda done: getattr(client, method_name)(*args, done))


def test_server_not_running_says_how_to_start_it():
    port = free_port()
    client = ServerClient(f"http://127.0.0.1:{port}")
    with pytest.raises(errors.ServerNotRunning) as info:
        call("info", client)
    message = str(info.value)
    assert f"http://127.0.0.1:{port}" in message
    assert f"nst serve --port {port}" in message


def test_default_address_gives_the_plain_command():
    assert errors.server_command("http://127.0.0.1:8765") == "nst serve"
    assert errors.server_command("localhost:9000") == "nst serve --port 9000"
    assert "--token" in errors.server_command("http://gpu-box:8765")


def test_urls_are_normalised():
    assert normalize_url("") == "http://127.0.0.1:8765"
    assert normalize_url("127.0.0.1:9000/") == "http://127.0.0.1:9000"
    assert normalize_url("http://h:1/api/v1") == "http://h:1"


def test_server_error_message_is_shown_as_the_server_wrote_it(stub):
    stub.json(
        "GET",
        "/info",
        400,
        {
            "error": {
                "code": "invalid_params",
                "field": "size",
                "message": "size: must be between 32 and 8192",
            }
        },
    )
    with pytest.raises(errors.ServerError) as info:
        call("info", ServerClient(stub.url))
    assert str(info.value) == "size: must be between 32 and 8192"
    assert info.value.code == "invalid_params" and info.value.field == "size"
    assert info.value.status == 400


def test_unauthorized_keeps_the_message_and_points_to_the_token(stub):
    stub.json(
        "GET",
        "/info",
        401,
        {"error": {"code": "unauthorized", "message": "missing or wrong bearer token"}},
    )
    with pytest.raises(errors.Unauthorized) as info:
        call("info", ServerClient(stub.url, token="nope"))
    assert str(info.value).startswith("missing or wrong bearer token")
    assert "token" in str(info.value).splitlines()[-1]
    assert stub.requests[-1]["headers"]["Authorization"] == "Bearer nope"


def test_non_json_errors_are_described(stub):
    stub.route("GET", "/info", (502, "text/html", b"<h1>Bad Gateway</h1>"))
    with pytest.raises(errors.ServerError, match="HTTP 502: <h1>Bad Gateway"):
        call("info", ServerClient(stub.url))


def test_a_dropped_connection_is_connection_lost_during_a_job(stub):
    stub.route("GET", "/jobs/j1", "drop")
    with pytest.raises(errors.ConnectionLost, match="lost"):
        call("job", ServerClient(stub.url), "j1")


def test_no_token_sends_no_authorization_header(stub):
    stub.json("GET", "/health", 200, {"status": "ok", "version": "0.1.0"})
    response = call("health", ServerClient(stub.url))
    assert response.json()["status"] == "ok"
    assert "Authorization" not in stub.requests[-1]["headers"]


def test_map_error_without_a_network():
    from nst_krita.qt import QNetworkReply

    E = QNetworkReply.NetworkError
    url = "http://127.0.0.1:8765"
    assert map_error(url, E.NoError, 200, b"") is None
    assert isinstance(map_error(url, E.ConnectionRefusedError, 0, b""), errors.ServerNotRunning)
    assert isinstance(
        map_error(url, E.ConnectionRefusedError, 0, b"", started=True), errors.ConnectionLost
    )
    assert isinstance(map_error(url, E.RemoteHostClosedError, 0, b""), errors.ConnectionLost)
    timeout = map_error(url, E.OperationCanceledError, 0, b"", timed_out=True, timeout_s=30)
    assert isinstance(timeout, errors.ServerTimeout) and "30 s" in str(timeout)


def test_a_job_uploads_polls_and_returns_the_result(stub, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 10)
    monkeypatch.setattr(job, "PREVIEW_EVERY_MS", 5)
    result = png(4, 3, (1, 2, 3, 4))
    job_routes(stub, result)
    statuses, previews = [], []
    style_job = job.StyleJob(
        ServerClient(stub.url),
        png(),
        [("starry.jpg", b"\xff\xd8\xff..")],
        {"quality": "draft", "seed": 3},
        mask_png=png(4, 3, (9, 9, 9, 9)),
    )
    style_job.progress.connect(statuses.append)
    style_job.preview.connect(previews.append)
    style_job.start()
    assert wait_for(style_job) == result
    assert [s["state"] for s in statuses][0] == "queued"
    assert statuses[-1]["state"] == "succeeded"
    assert previews and Image.open(io.BytesIO(previews[0])).size == (2, 2)
    parts = parse_multipart(stub.requests_to("POST", "/jobs")[0])
    assert parts["content"][0][:2] == ("content.png", "image/png")
    assert parts["style"] == [("starry.jpg", "image/jpeg", b"\xff\xd8\xff..")]
    assert parts["mask"][0][2] == png(4, 3, (9, 9, 9, 9))
    assert json.loads(parts["params"][0][2]) == {"quality": "draft", "seed": 3}
    # The finished job is discarded on the server.
    assert plugin_env.process_until(lambda: stub.requests_to("DELETE", "/jobs/j1"))


def test_the_layer_is_encoded_off_the_ui_thread(stub, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 5)
    result = png(4, 3, (1, 2, 3, 4))
    job_routes(stub, result)
    threads = []

    def encode(pixel):
        def make():
            threads.append(threading.current_thread())
            return png(4, 3, pixel)

        return make

    style_job = job.StyleJob(
        ServerClient(stub.url), encode((5, 6, 7, 8)), [("s.png", png())], {}, encode((9,) * 4)
    )
    style_job.start()
    assert style_job.state == "encoding"
    assert wait_for(style_job) == result
    assert len(threads) == 2 and threading.main_thread() not in threads
    parts = parse_multipart(stub.requests_to("POST", "/jobs")[0])
    assert parts["content"][0][2] == png(4, 3, (5, 6, 7, 8))
    assert parts["mask"][0][2] == png(4, 3, (9,) * 4)


def test_cancel_while_encoding_sends_nothing(stub):
    job_routes(stub)
    release = threading.Event()

    def slow_encode():
        release.wait(5)
        return png()

    style_job = job.StyleJob(ServerClient(stub.url), slow_encode, [("s.png", png())], {})
    failures = []
    style_job.failed.connect(failures.append)
    style_job.start()
    style_job.cancel()
    release.set()
    assert len(failures) == 1 and isinstance(failures[0], errors.Canceled)
    assert not plugin_env.process_until(lambda: stub.requests_to("POST", "/jobs"), timeout=0.5)


def test_an_encoding_failure_is_reported(stub):
    def broken():
        raise MemoryError("12 GB")

    style_job = job.StyleJob(ServerClient(stub.url), broken, [("s.png", png())], {})
    style_job.start()
    with pytest.raises(errors.NSTError, match=r"^Could not encode the layer as PNG \(12 GB\)\.$"):
        wait_for(style_job)


def test_a_failed_job_reports_the_servers_message(stub, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 5)
    job_routes(
        stub,
        final_state="failed",
        error={"code": "out_of_memory", "message": "Out of GPU memory at 4096 px"},
    )
    style_job = job.StyleJob(ServerClient(stub.url), png(), [("s.png", png())], {})
    style_job.start()
    with pytest.raises(errors.JobFailed) as info:
        wait_for(style_job)
    assert str(info.value) == "Out of GPU memory at 4096 px"
    assert info.value.code == "out_of_memory"


def test_cancel_cancels_the_job_on_the_server(stub, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 5)
    job_routes(stub)
    style_job = job.StyleJob(ServerClient(stub.url), png(), [("s.png", png())], {})
    style_job.submitted.connect(lambda job_id: style_job.cancel())
    style_job.start()
    with pytest.raises(errors.Canceled):
        wait_for(style_job)
    assert plugin_env.process_until(lambda: stub.requests_to("DELETE", "/jobs/j1"))
    assert not stub.requests_to("GET", "/jobs/j1/result")


def test_server_stopping_mid_job_is_connection_lost(stub, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 5)
    job_routes(stub)
    stub.route("GET", "/jobs/j1", (200, JSON, body({"id": "j1", "state": "running"})), "drop")
    style_job = job.StyleJob(ServerClient(stub.url), png(), [("s.png", png())], {})
    style_job.start()
    with pytest.raises(errors.ConnectionLost, match="image was not changed"):
        wait_for(style_job)


def test_submit_refused_by_the_server(stub):
    stub.json(
        "POST",
        "/jobs",
        503,
        {"error": {"code": "queue_full", "message": "The queue is full (8 jobs)."}},
    )
    style_job = job.StyleJob(ServerClient(stub.url), png(), [("s.png", png())], {})
    style_job.start()
    with pytest.raises(errors.ServerError, match=r"^The queue is full \(8 jobs\)\.$"):
        wait_for(style_job)


def test_progress_text():
    status = {
        "state": "running",
        "progress": {"step": 12, "steps": 80, "scale": 2, "scales": 3, "eta": 75},
    }
    assert (
        job.format_progress(status) == "Step 12 of 80 \u00b7 scale 2/3 \u00b7 about 1 min 15 s left"
    )
    assert "position 3" in job.format_progress({"state": "queued", "queue_position": 3})
    assert job.format_progress({"state": "running"}) == "Starting..."
    status["progress"].update(scale=5, scales=5, tile=7, tiles=30)
    assert "scale 5/5 \u00b7 tile pass 7/30" in job.format_progress(status)


def test_a_job_deleted_while_a_request_is_in_flight_is_ignored(stub, monkeypatch):
    # E.g. Krita closing with a job running: the reply must not call into the dead object.
    from nst_krita.qt import QtCore

    errors_seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: errors_seen.append(info))
    job_routes(stub)
    parent = QtCore.QObject()
    style_job = job.StyleJob(ServerClient(stub.url), png(), [("s.png", png())], {}, parent=parent)
    style_job.start()
    parent.deleteLater()
    deferred = QtCore.QEvent.Type.DeferredDelete
    QtCore.QCoreApplication.sendPostedEvents(None, getattr(deferred, "value", deferred))
    del parent, style_job
    assert plugin_env.process_until(lambda: stub.requests_to("POST", "/jobs"))
    plugin_env.process_until(lambda: False, timeout=0.3)
    assert errors_seen == []


def test_the_browser_defence_lets_the_plugin_the_client_and_curl_in():
    """Clients that are not web pages send no Origin and a Host naming the server: the
    plugin, the Python client and curl all get in; the same request from a page does not."""
    import shutil
    import subprocess

    from nst.client import Client
    from server.testing import ServerProcess

    with ServerProcess() as server:
        assert call("info", ServerClient(server.url)).json()["device"] == "cpu"  # the plugin
        assert Client(server.url).info()["device"] == "cpu"  # the Python client (requests)
        for url in (server.url, f"http://localhost:{server.port}"):
            if shutil.which("curl"):
                out = subprocess.run(
                    ["curl", "-s", "-w", " %{http_code}", url + "/api/v1/health"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout
                assert out.endswith(" 200"), out
        page = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, requests; r = requests.get(sys.argv[1], "
                "headers={'Origin': 'https://some.site'}, timeout=5); print(r.status_code, r.text)",
                server.api + "/info",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert page.startswith("403") and "forbidden_origin" in page, page
