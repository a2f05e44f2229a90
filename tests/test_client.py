"""nst.client and the bearer token, against a real server that requires a token and has a
queue of two, so that a full queue (429) is cheap to reach."""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import small
from PIL import Image

from nst.client import (
    AuthError,
    Client,
    ClientError,
    JobCanceled,
    JobFailed,
    JobStatus,
    RequestError,
    ServerUnavailable,
)
from server.testing import ServerProcess, free_port

TOKEN = "s3cret-token"
FAST = {"size": 64, "iterations": 3, "scales": 1}
SLOW = {"size": 64, "iterations": 5000, "scales": 1}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    # The token comes from the environment, as NST_TOKEN documents.
    with ServerProcess("--queue-size", "2", env={"NST_TOKEN": TOKEN}) as proc:
        yield proc


@pytest.fixture()
def client(server: ServerProcess) -> Client:
    return Client(server.url, token=TOKEN)


@pytest.fixture(scope="module")
def content(content_path) -> Image.Image:
    image = small(content_path, 56, "RGBA")
    image.putalpha(Image.linear_gradient("L").resize(image.size))
    return image


def wait_running(job, min_step: int = 1) -> JobStatus:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = job.status()
        if status.state == "running" and status.step >= min_step:
            return status
        time.sleep(0.02)
    raise AssertionError(f"{job} never ran: {status}")


def test_token_required_everywhere_but_health(server: ServerProcess) -> None:
    assert requests.get(server.api + "/health", timeout=5).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = requests.get(server.api + "/info", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    response = requests.post(server.api + "/jobs", timeout=5)
    assert response.status_code == 401  # refused before the upload is even looked at
    ok = requests.get(server.api + "/info", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert ok.status_code == 200 and ok.json()["queue"]["max"] == 2


def test_job_status_needs_the_token_too(client: Client, content: Image.Image, style_path) -> None:
    """Status polls take a shortcut past Flask (server/fastpath.py): same rules there."""
    job = client.submit(content, style_path, FAST)
    url = f"{client.api}/jobs/{job.id}"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
    good = {"Authorization": f"Bearer {TOKEN}"}
    response = requests.get(url, headers={**good, "Origin": "https://evil.example"}, timeout=5)
    assert response.status_code == 403
    response = requests.get(url, headers=good, timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json()["id"] == job.id and response.json()["width"] == content.width
    missing = requests.get(f"{client.api}/jobs/nosuchjob", headers=good, timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    job.wait()


def test_client_lifecycle_with_progress(client: Client, content: Image.Image, style_path) -> None:
    assert client.health()["status"] == "ok"
    assert client.info()["device"] == "cpu"
    job = client.submit(content, style_path, {**FAST, "iterations": 25})
    seen: list[JobStatus] = []
    final = job.wait(progress=seen.append, poll=0.02)
    assert final.state == "succeeded" and final.finished
    assert final.step == final.steps == 25 and final.fraction == 1.0
    assert seen[-1] == final
    steps = [s.step for s in seen]
    assert steps == sorted(steps) and len(set(steps)) >= 3
    image = job.result()
    assert image.size == content.size and image.mode == "RGBA"
    assert image.getchannel("A").tobytes() == content.getchannel("A").tobytes()
    assert job.preview().size == content.size  # after the end: the result itself
    assert job.cancel() == "succeeded"  # discards it
    with pytest.raises(RequestError) as info:
        job.status()
    assert info.value.code == "not_found" and info.value.status == 404


def test_client_stylize_with_several_styles_and_mask(
    client: Client, content: Image.Image, style_path, content_path
) -> None:
    mask = Image.new("L", content.size, 0)
    mask.paste(255, (0, 0, content.width // 2, content.height))
    styles = [small(style_path, 64), style_path]
    image = client.stylize(content, styles, {**FAST, "style_blend": [1, 3]}, mask=mask)
    assert image.size == content.size
    right = (content.width // 2, 0, content.width, content.height)
    assert image.crop(right).tobytes() == content.crop(right).tobytes()  # masked out
    left = (0, 0, content.width // 2, content.height)
    assert image.crop(left).tobytes() != content.crop(left).tobytes()


def broken_png(width: int, height: int) -> bytes:
    """Correct chunk checksums, but pixel data that is not zlib: fails only in the worker."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"not zlib" * 9)
        + chunk(b"IEND", b"")
    )


def test_job_failed_carries_the_code(client: Client, style_path) -> None:
    response = client.session.post(
        client.api + "/jobs",
        files={"content": broken_png(32, 32), "style": Path(style_path).read_bytes()},
        data={"params": json.dumps(FAST)},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job = client.job(response.json()["id"])
    with pytest.raises(JobFailed) as info:
        job.wait()
    assert info.value.code == "invalid_image" and "damaged" in str(info.value)
    with pytest.raises(JobFailed):
        job.result()


def test_validation_error_names_the_field(client: Client, content: Image.Image, style_path) -> None:
    with pytest.raises(RequestError) as info:
        client.submit(content, style_path, {"size": 1})
    err = info.value
    assert err.code == "invalid_params" and err.field == "size" and err.status == 400
    assert "size" in str(err) and "between 32 and 8192" in str(err)


def test_cancel_running_job_then_wait_raises_and_next_runs(
    client: Client, content: Image.Image, style_path
) -> None:
    job = client.submit(content, style_path, SLOW)
    wait_running(job)
    assert job.cancel() == "canceled"
    with pytest.raises(JobCanceled, match="canceled"):
        job.wait()
    with pytest.raises(JobCanceled):
        job.result()
    assert client.submit(content, style_path, FAST).wait().state == "succeeded"


def test_queue_full_is_429_with_retry_after(
    server: ServerProcess, client: Client, content: Image.Image, style_path
) -> None:
    running = client.submit(content, style_path, SLOW)
    wait_running(running)
    waiting = [client.submit(content, style_path, FAST) for _ in range(2)]
    try:
        with pytest.raises(RequestError) as info:
            client.submit(content, style_path, FAST)
        assert info.value.code == "queue_full" and info.value.status == 429
        assert "queue is full" in str(info.value)
        with open(style_path, "rb") as style:
            image = style.read()
        raw = requests.post(
            server.api + "/jobs",
            headers={"Authorization": f"Bearer {TOKEN}"},
            files={"content": image, "style": image},
            timeout=10,
        )
        assert raw.status_code == 429
        assert int(raw.headers["Retry-After"]) >= 1
    finally:
        for job in waiting + [running]:
            job.cancel()
    assert [job.status().state for job in waiting] == ["canceled", "canceled"]


def test_auth_error_without_or_with_wrong_token(server: ServerProcess) -> None:
    for token in (None, "wrong"):
        with pytest.raises(AuthError) as info:
            Client(server.url, token=token).info()
        assert "token" in str(info.value)
    assert Client(server.url).health()["status"] == "ok"  # health needs no token


def test_server_unavailable_says_how_to_start_it() -> None:
    with pytest.raises(ServerUnavailable) as info:
        Client(f"http://127.0.0.1:{free_port()}").info()
    assert "nst serve" in str(info.value)
    assert isinstance(info.value, ClientError)


def test_missing_local_file_is_a_client_error(client: Client, tmp_path) -> None:
    with pytest.raises(ClientError, match="Cannot read the content image"):
        client.submit(tmp_path / "nope.png", tmp_path / "nope.jpg")


def test_url_may_include_api_prefix(server: ServerProcess) -> None:
    assert Client(server.api + "/", token=TOKEN).info()["queue"]["max"] == 2
