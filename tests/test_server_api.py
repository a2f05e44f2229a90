"""The HTTP API against a real server process (waitress) with the real weights.

One server for the module, with small limits so the limit tests stay cheap. Jobs use tiny
images and a few steps; "blocker" jobs are long runs that a test cancels when done.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import small
from PIL import Image

import nst
from server.testing import ServerProcess

FAST = {"size": 64, "iterations": 3, "scales": 1}
SLOW = {"size": 64, "iterations": 5000, "scales": 1}  # canceled long before its end
MAX_PIXELS = 250_000


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    args = ["--max-upload-mb", "1", "--max-pixels", str(MAX_PIXELS), "--queue-size", "16"]
    with ServerProcess(*args) as proc:
        yield proc


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def rgba(content_path) -> Image.Image:
    image = small(content_path, 64, "RGBA")
    alpha = Image.linear_gradient("L").resize(image.size)  # every alpha value matters
    image.putalpha(alpha)
    return image


@pytest.fixture(scope="module")
def style_png(style_path) -> bytes:
    return png_bytes(small(style_path, 64))


def submit(
    server: ServerProcess, content: bytes, style: bytes, params: Any = FAST, **extra: Any
) -> requests.Response:
    files: list[tuple[str, Any]] = [("content", ("c.png", content)), ("style", ("s.png", style))]
    files += [(name, (f"{name}.png", data)) for name, data in extra.items()]
    data = {"params": params if isinstance(params, str) else json.dumps(params)}
    return requests.post(server.api + "/jobs", files=files, data=data, timeout=30)


def status(server: ServerProcess, job_id: str) -> dict[str, Any]:
    response = requests.get(f"{server.api}/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_state(
    server: ServerProcess,
    job_id: str,
    states: tuple[str, ...],
    timeout: float = 60.0,
    min_step: int = 0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = status(server, job_id)
        if body["state"] in states and body["progress"]["step"] >= min_step:
            return body
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} not in {states} after {timeout} s: {body}")


def delete(server: ServerProcess, job_id: str) -> requests.Response:
    return requests.delete(f"{server.api}/jobs/{job_id}", timeout=10)


def assert_healthy(server: ServerProcess) -> None:
    assert requests.get(server.api + "/health", timeout=5).json()["status"] == "ok"


# -- lifecycle ------------------------------------------------------------------------------
def test_health_and_info(server: ServerProcess) -> None:
    health = requests.get(server.api + "/health", timeout=5).json()
    assert health["status"] == "ok" and health["version"]
    info = requests.get(server.api + "/info", timeout=5).json()
    assert info["device"] == "cpu"
    assert info["weights"] == "caffe"
    assert info["precision"] in ("fp32", "bf16")
    assert info["max_pixels"] == MAX_PIXELS
    assert info["max_upload_mb"] == 1
    assert info["queue"] == {"length": 0, "max": 16}
    assert info["presets"]["draft"]["size"] == 256


def test_estimate_gives_the_plan_and_a_time_before_any_upload(server: ServerProcess) -> None:
    def estimate(**query: Any) -> requests.Response:
        return requests.get(server.api + "/estimate", params=query, timeout=60)

    full = estimate(width=400, height=300, params=json.dumps({"quality": "full"}))
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["device"] == "cpu" and body["seconds"] > 0
    # full works at the content's own size; below 512 px with the normal preset's steps.
    normal = nst.Params()
    assert body["scales"] == [
        {"width": 200, "height": 150, "steps": 2 * normal.coarse_iterations, "tiled": False},
        {"width": 400, "height": 300, "steps": normal.final_iterations, "tiled": False},
    ]
    draft = estimate(width=400, height=300, params=json.dumps({"quality": "draft"})).json()
    assert draft["scales"][-1]["width"] == 256 and draft["seconds"] < body["seconds"]
    tiled = estimate(width=400, height=300, params=json.dumps({"tile_size": 128})).json()
    assert (
        tiled["scales"][-1]["tiled"]
        and tiled["seconds"] > estimate(width=400, height=300).json()["seconds"]
    )
    for query, code, status in [
        ({"height": 300}, "invalid_params", 400),
        ({"width": "wide", "height": 300}, "invalid_params", 400),
        ({"width": 400, "height": 300, "params": '{"quality": "ultra"}'}, "invalid_params", 400),
        ({"width": 600, "height": 500}, "too_many_pixels", 413),
    ]:
        response = estimate(**query)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
    assert_healthy(server)


def test_job_lifecycle_progress_rises_and_result_keeps_size_and_alpha(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    response = submit(server, png_bytes(rgba), style_png, {**FAST, "iterations": 30})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["state"] == "queued" and body["queue_position"] == 0
    assert response.headers["Location"] == f"/api/v1/jobs/{body['id']}"
    job_id = body["id"]

    steps_seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = status(server, job_id)
        assert current["width"] == rgba.width and current["height"] == rgba.height
        steps_seen.append(current["progress"]["step"])
        if current["state"] == "succeeded":
            break
        assert current["state"] in ("queued", "running")
        time.sleep(0.02)
    assert current["state"] == "succeeded"
    assert current["error"] is None
    assert current["progress"]["step"] == current["progress"]["steps"] == 30
    assert current["progress"]["fraction"] == 1.0
    assert steps_seen == sorted(steps_seen)
    assert len({s for s in steps_seen if 0 < s < 30}) >= 2, steps_seen  # seen it rise

    result = requests.get(f"{server.api}/jobs/{job_id}/result", timeout=10)
    assert result.status_code == 200
    assert result.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(result.content))
    assert image.size == rgba.size
    assert image.mode == "RGBA"
    assert image.getchannel("A").tobytes() == rgba.getchannel("A").tobytes()
    assert image.convert("RGB").tobytes() != rgba.convert("RGB").tobytes()  # it was stylised

    # Finished: DELETE discards it, after which it is gone.
    gone = delete(server, job_id)
    assert gone.status_code == 200 and gone.json() == {
        "id": job_id,
        "state": "succeeded",
        "discarded": True,
    }
    assert requests.get(f"{server.api}/jobs/{job_id}", timeout=5).status_code == 404


def test_preview_and_not_ready_while_running(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    job_id = submit(server, png_bytes(rgba), style_png, SLOW).json()["id"]
    try:
        wait_state(server, job_id, ("running",), min_step=1)
        preview = requests.get(f"{server.api}/jobs/{job_id}/preview", timeout=10)
        assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(preview.content)).size == rgba.size  # working size 64
        early = requests.get(f"{server.api}/jobs/{job_id}/result", timeout=10)
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "not_ready"
    finally:
        delete(server, job_id)


def test_no_preview_before_the_first_step(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    blocker = submit(server, png_bytes(rgba), style_png, SLOW).json()["id"]
    queued = submit(server, png_bytes(rgba), style_png).json()["id"]
    try:
        response = requests.get(f"{server.api}/jobs/{queued}/preview", timeout=10)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "no_preview"
    finally:
        delete(server, queued)
        delete(server, blocker)


def test_events_stream_reports_progress_until_done(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    job_id = submit(server, png_bytes(rgba), style_png, {**FAST, "iterations": 20}).json()["id"]
    with requests.get(f"{server.api}/jobs/{job_id}/events", stream=True, timeout=60) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = [
            json.loads(line[5:])
            for line in resp.iter_lines(decode_unicode=True)
            if line.startswith("data:")
        ]
    assert events[-1]["state"] == "succeeded"
    steps = [e["progress"]["step"] for e in events]
    assert steps == sorted(steps) and steps[-1] == 20
    assert len(events) >= 3


def test_sync_stylize_answers_png(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    files = {"content": png_bytes(rgba), "style": style_png}
    response = requests.post(
        server.api + "/stylize", files=files, data={"params": json.dumps(FAST)}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Job-Id"]
    image = Image.open(io.BytesIO(response.content))
    assert image.size == rgba.size and image.mode == "RGBA"


def test_mask_zero_keeps_the_original_pixels(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    mask = Image.new("L", rgba.size, 0)
    files = {"content": png_bytes(rgba), "style": style_png, "mask": png_bytes(mask)}
    response = requests.post(
        server.api + "/stylize", files=files, data={"params": json.dumps(FAST)}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).tobytes() == rgba.tobytes()


# -- bad input ------------------------------------------------------------------------------
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but carries almost no pixels (0x0, or a bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def bad_requests(content: bytes, style: bytes) -> list[tuple[str, dict, dict, int, str, Any]]:
    """(name, files, form, status, code, field) for each bad request."""
    wrong_mask = png_bytes(Image.new("L", (10, 10), 255))
    big = png_bytes(Image.new("RGB", (600, 500), "red"))  # 300k pixels > MAX_PIXELS
    ok = {"params": json.dumps(FAST)}

    def with_params(params: str) -> dict:
        return {"params": params}

    return [
        (
            "size upscales past --max-pixels",
            {"content": content, "style": style},
            with_params(json.dumps({**FAST, "size": 700})),  # 700x470 = 329k > MAX_PIXELS
            413,
            "too_many_pixels",
            "size",
        ),
        (
            "not an image",
            {"content": b"hello, not a picture", "style": style},
            ok,
            400,
            "invalid_image",
            "content",
        ),
        (
            "truncated png",
            {"content": content[: len(content) // 2], "style": style},
            ok,
            400,
            "invalid_image",
            "content",
        ),
        (
            "0x0 png",
            {"content": png_header_only(0, 0), "style": style},
            ok,
            400,
            "invalid_image",
            "content",
        ),
        ("empty file", {"content": b"", "style": style}, ok, 400, "invalid_image", "content"),
        (
            "over pixel limit",
            {"content": big, "style": style},
            ok,
            413,
            "too_many_pixels",
            "content",
        ),
        (
            "style over pixel limit",
            {"content": content, "style": big},
            ok,
            413,
            "too_many_pixels",
            "style",
        ),
        (
            "decompression bomb",
            {"content": png_header_only(100_000, 100_000), "style": style},
            ok,
            413,
            "too_many_pixels",
            "content",
        ),
        (
            "over upload limit",
            {"content": b"\0" * 1_200_000, "style": style},
            ok,
            413,
            "upload_too_large",
            None,
        ),
        ("missing content", {"style": style}, ok, 400, "missing_file", "content"),
        ("missing style", {"content": content}, ok, 400, "missing_file", "style"),
        (
            "malformed params",
            {"content": content, "style": style},
            with_params("{size: 64"),
            400,
            "invalid_params",
            "params",
        ),
        (
            "params not an object",
            {"content": content, "style": style},
            with_params("[64]"),
            400,
            "invalid_params",
            "params",
        ),
        (
            "unknown param",
            {"content": content, "style": style},
            with_params('{"sise": 64}'),
            400,
            "invalid_params",
            "sise",
        ),
        (
            "size out of range",
            {"content": content, "style": style},
            with_params('{"size": 5}'),
            400,
            "invalid_params",
            "size",
        ),
        (
            "iterations wrong type",
            {"content": content, "style": style},
            with_params('{"iterations": "many"}'),
            400,
            "invalid_params",
            "iterations",
        ),
        (
            "style_weight negative",
            {"content": content, "style": style},
            with_params('{"style_weight": -1}'),
            400,
            "invalid_params",
            "style_weight",
        ),
        (
            "bad choice",
            {"content": content, "style": style},
            with_params('{"quality": "ultra"}'),
            400,
            "invalid_params",
            "quality",
        ),
        (
            "weights file path",
            {"content": content, "style": style},
            with_params('{"weights": "/etc/passwd"}'),
            400,
            "invalid_params",
            "weights",
        ),
        (
            "other device",
            {"content": content, "style": style},
            with_params('{"device": "cuda"}'),
            400,
            "invalid_params",
            "device",
        ),
        (
            "style_blend count",
            {"content": content, "style": style},
            with_params('{"style_blend": [1, 2]}'),
            400,
            "invalid_params",
            "style_blend",
        ),
        (
            "mask of the wrong size",
            {"content": content, "style": style, "mask": wrong_mask},
            ok,
            400,
            "invalid_image",
            "mask",
        ),
    ]


def test_bad_inputs_get_4xx_with_code_and_server_stays_healthy(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    content = png_bytes(rgba)
    for name, files, form, want_status, want_code, want_field in bad_requests(content, style_png):
        response = requests.post(server.api + "/jobs", files=files, data=form, timeout=30)
        assert response.status_code == want_status, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == want_code, name
        assert error.get("field") == want_field, name
        assert len(error["message"]) > 10, name
        assert_healthy(server)
    # Nothing bad was queued, and a good job still runs afterwards.
    assert requests.get(server.api + "/info", timeout=5).json()["queue"]["length"] == 0
    response = requests.post(
        server.api + "/stylize",
        data={"params": json.dumps(FAST)},
        files={"content": content, "style": style_png},
        timeout=60,
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("GET", ""),
        ("GET", "/result"),
        ("GET", "/preview"),
        ("GET", "/events"),
        ("DELETE", ""),
    ],
)
def test_unknown_job_id_is_404(server: ServerProcess, method: str, suffix: str) -> None:
    response = requests.request(method, f"{server.api}/jobs/nosuchjob{suffix}", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_endpoint_and_method_are_json(server: ServerProcess) -> None:
    response = requests.get(server.api + "/nothing-here", timeout=5)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = requests.put(server.api + "/jobs", timeout=5)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_requests_from_web_pages_are_refused(server: ServerProcess) -> None:
    response = requests.get(
        server.api + "/info", headers={"Origin": "https://evil.example"}, timeout=5
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


# -- queue: cancel, order -------------------------------------------------------------------
def test_cancel_running_job_stops_it_and_next_job_runs(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    content = png_bytes(rgba)
    blocker = submit(server, content, style_png, SLOW).json()["id"]
    wait_state(server, blocker, ("running",), min_step=2)
    started = time.monotonic()
    response = delete(server, blocker)
    assert time.monotonic() - started < 2.0  # within about one optimiser step
    assert response.status_code == 200
    assert response.json() == {"id": blocker, "state": "canceled", "discarded": False}
    body = status(server, blocker)
    assert body["state"] == "canceled" and body["error"]["code"] == "canceled"
    assert body["progress"]["step"] < 100
    result = requests.get(f"{server.api}/jobs/{blocker}/result", timeout=5)
    assert result.status_code == 410 and result.json()["error"]["code"] == "canceled"

    after = submit(server, content, style_png).json()["id"]
    assert wait_state(server, after, ("succeeded", "failed", "canceled"))["state"] == "succeeded"


def test_cancel_queued_job(server: ServerProcess, rgba: Image.Image, style_png: bytes) -> None:
    content = png_bytes(rgba)
    blocker = submit(server, content, style_png, SLOW).json()["id"]
    queued = submit(server, content, style_png).json()["id"]
    try:
        assert status(server, queued)["state"] == "queued"
        response = delete(server, queued)
        assert response.json()["state"] == "canceled"
        body = status(server, queued)
        assert body["state"] == "canceled" and body["queue_position"] is None
        assert body["progress"]["step"] == 0
    finally:
        delete(server, blocker)
    after = submit(server, content, style_png).json()["id"]
    assert wait_state(server, after, ("succeeded", "failed", "canceled"))["state"] == "succeeded"


def test_fifo_order_and_queue_positions(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    content = png_bytes(rgba)
    blocker = submit(server, content, style_png, SLOW).json()["id"]
    wait_state(server, blocker, ("running",))
    answers = [submit(server, content, style_png).json() for _ in range(3)]
    ids = [a["id"] for a in answers]
    assert [a["queue_position"] for a in answers] == [0, 1, 2]
    assert [status(server, i)["queue_position"] for i in ids] == [0, 1, 2]
    assert status(server, blocker)["queue_position"] is None
    assert requests.get(server.api + "/info", timeout=5).json()["queue"]["length"] == 3

    delete(server, ids[0])  # leaving the queue moves the others up
    assert [status(server, i)["queue_position"] for i in ids[1:]] == [0, 1]
    delete(server, blocker)
    finals = [wait_state(server, i, ("succeeded", "failed")) for i in ids[1:]]
    assert [f["state"] for f in finals] == ["succeeded", "succeeded"]
    assert finals[0]["started"] < finals[1]["started"]
    assert finals[0]["finished"] <= finals[1]["started"]  # one worker: one job at a time


def test_eight_clients_at_once_every_job_ends_none_mixed(
    server: ServerProcess, style_png: bytes
) -> None:
    """Each client sends its own image (own size, own colours) with an all-zero mask, so the
    right result is exactly its own input: any mix-up shows."""
    inputs = []
    for i in range(8):
        size = (40 + i, 48 - i)
        image = Image.linear_gradient("L").resize(size).convert("RGB")
        image = Image.merge(
            "RGB",
            (image.getchannel(0), Image.new("L", size, 30 * i), Image.new("L", size, 255 - 20 * i)),
        )
        inputs.append(image)
    outcomes: dict[int, Any] = {}

    def client(i: int) -> None:
        try:
            mask = png_bytes(Image.new("L", inputs[i].size, 0))
            response = submit(server, png_bytes(inputs[i]), style_png, mask=mask)
            assert response.status_code == 202, response.text
            job_id = response.json()["id"]
            final = wait_state(server, job_id, ("succeeded", "failed", "canceled"), 120)
            result = requests.get(f"{server.api}/jobs/{job_id}/result", timeout=10)
            outcomes[i] = (final["state"], Image.open(io.BytesIO(result.content)).convert("RGB"))
        except Exception as exc:  # reported below, with the client's number
            outcomes[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert sorted(outcomes) == list(range(8))
    for i, outcome in outcomes.items():
        assert not isinstance(outcome, Exception), (i, outcome)
        state, image = outcome
        assert state == "succeeded"
        assert image.size == inputs[i].size
        assert image.tobytes() == inputs[i].tobytes(), f"client {i} got another's image"


def test_client_that_disconnects_does_not_kill_its_job(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    files = {"content": png_bytes(rgba), "style": style_png}
    params = json.dumps({**FAST, "iterations": 100})
    with pytest.raises(requests.ReadTimeout):  # the client gives up and hangs up
        requests.post(
            server.api + "/stylize", files=files, data={"params": params}, timeout=(5, 0.3)
        )
    job_id = requests.get(server.api + "/info", timeout=5).json()["running"]
    assert job_id is not None
    final = wait_state(server, job_id, ("succeeded", "failed", "canceled"))
    assert final["state"] == "succeeded" and final["progress"]["step"] == 100


def png_with_broken_pixels(width: int, height: int) -> bytes:
    """Well-formed chunks with correct checksums around pixel data that is not zlib: it
    passes the upload check and fails only when decoded, i.e. in the worker."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"these bytes are not zlib" * 8)
        + png_chunk(b"IEND", b"")
    )


def test_image_found_bad_late_fails_alone_and_next_job_runs(
    server: ServerProcess, rgba: Image.Image, style_png: bytes
) -> None:
    response = submit(server, png_with_broken_pixels(*rgba.size), style_png)
    assert response.status_code == 202, response.text
    bad = response.json()["id"]
    good = submit(server, png_bytes(rgba), style_png).json()["id"]
    failed = wait_state(server, bad, ("succeeded", "failed", "canceled"))
    assert failed["state"] == "failed"
    assert failed["error"]["code"] == "invalid_image"
    assert "content image" in failed["error"]["message"]
    result = requests.get(f"{server.api}/jobs/{bad}/result", timeout=5)
    assert result.status_code == 409 and result.json()["error"]["code"] == "invalid_image"
    assert wait_state(server, good, ("succeeded", "failed", "canceled"))["state"] == "succeeded"
