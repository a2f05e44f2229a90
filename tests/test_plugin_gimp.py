"""The GIMP plug-in's logic without GIMP: PNG writer, regions, the HTTP client against a real
server, the managed server, the cancel watchdog, and the GIMP glue on a fake `gi` (one undo
group, the layer above the source). The real GIMP: tests/test_plugin_gimp_e2e.py."""

from __future__ import annotations

import importlib
import io
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent / "plugin_gimp" / "nst_gimp"
sys.path.insert(0, str(PLUGIN))
sys.path.insert(0, str(HERE / "gimp"))

from nstgimp import client, errors, managed, png, region  # noqa: E402
from nstgimp.region import Rect  # noqa: E402

from server.testing import ServerProcess, free_port, is_running  # noqa: E402

TOKEN = "gimp-unit-token"
FAST = {"quality": "draft", "size": 32, "iterations": 2, "scales": 1}
SLOW = {"quality": "draft", "size": 64, "iterations": 5000, "scales": 1}


@pytest.fixture(scope="module")
def server():
    with ServerProcess("--token", TOKEN) as proc:
        yield proc


def png_of(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def content(content_path) -> Image.Image:
    image = Image.open(content_path).convert("RGBA").resize((40, 28))
    image.putalpha(Image.linear_gradient("L").resize(image.size))
    return image


@pytest.fixture(scope="module")
def style(style_path) -> bytes:
    return png_of(Image.open(style_path).convert("RGB").resize((40, 30)))


# -- PNG and regions --------------------------------------------------------------------------
@pytest.mark.parametrize("mode,channels", [("RGBA", 4), ("L", 1), ("RGB", 3), ("LA", 2)])
def test_png_writer_round_trips_through_pillow(content, mode, channels):
    image = content.convert(mode)
    data = png.encode(image.width, image.height, channels, image.tobytes())
    back = Image.open(io.BytesIO(data))
    back.load()
    assert back.mode == mode and back.tobytes() == image.tobytes()


def test_png_writer_refuses_a_wrong_byte_count():
    with pytest.raises(ValueError, match="do not make a 4x4 image"):
        png.encode(4, 4, 4, b"\0" * 63)


def test_selection_gets_context_within_the_layer():
    layer = Rect(0, 0, 64, 42)
    assert region.with_context(Rect(30, 14, 24, 16), layer) == Rect(14, 0, 50, 42)
    assert region.with_context(Rect(0, 0, 400, 300), Rect(0, 0, 400, 300)) == Rect(0, 0, 400, 300)
    assert region.context_margin(Rect(0, 0, 800, 10)) == 100
    assert region.mask_is_empty(b"\0\0") and not region.mask_is_empty(b"\0\1")


# -- the HTTP client against a real server ----------------------------------------------------
def test_urls_are_normalised():
    assert client.normalize_url("") == errors.DEFAULT_URL
    assert client.normalize_url(" 127.0.0.1:9000/ ") == "http://127.0.0.1:9000"
    assert client.normalize_url("http://h:1/api/v1") == "http://h:1"


def test_job_runs_to_a_result_with_rising_progress(server, content, style):
    api = client.ServerClient(server.url, TOKEN)
    assert api.health()["status"] == "ok"
    job = api.submit(png_of(content), [("style.png", style)], FAST)
    seen = []
    result = client.run_job(api, job["id"], lambda f, text: seen.append((f, text)), poll=0.02)
    out = Image.open(io.BytesIO(result))
    assert out.size == content.size and out.mode == "RGBA"
    assert out.getchannel("A").tobytes() == content.getchannel("A").tobytes()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(text.startswith("Neural style") for _, text in seen)


def test_cancel_from_the_progress_callback_cancels_the_server_job(server, content, style):
    api = client.ServerClient(server.url, TOKEN)
    job = api.submit(png_of(content), [("style.png", style)], SLOW)
    calls = []

    def progress(fraction, text):
        calls.append(fraction)
        return len(calls) < 3  # "cancel" on the third poll

    with pytest.raises(errors.Canceled):
        client.run_job(api, job["id"], progress, poll=0.05)
    assert api.status(job["id"])["state"] == "canceled"


def test_errors_say_what_to_do(server, content, style):
    port = free_port()
    with pytest.raises(errors.ServerNotRunning) as down:
        client.ServerClient(f"127.0.0.1:{port}").health()
    assert f"http://127.0.0.1:{port}" in str(down.value) and "nst serve" in str(down.value)
    with pytest.raises(errors.Unauthorized) as wrong:
        client.ServerClient(server.url, "nope").submit(png_of(content), [("s.png", style)], {})
    assert "Set Token" in str(wrong.value)
    with pytest.raises(errors.ServerError) as bad:
        client.ServerClient(server.url, TOKEN).submit(b"not a png", [("s.png", style)], FAST)
    assert bad.value.status == 400 and "content image" in str(bad.value)


def test_a_job_that_fails_on_the_server_says_why(server, style):
    """Pixel data that passes the upload check and fails when the worker decodes it."""
    broken = png._chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
    content = (
        png.SIGNATURE + broken + png._chunk(b"IDAT", b"not zlib" * 8) + png._chunk(b"IEND", b"")
    )
    api = client.ServerClient(server.url, TOKEN)
    job = api.submit(content, [("style.png", style)], FAST)
    with pytest.raises(errors.JobFailed) as failed:
        client.run_job(api, job["id"], lambda f, text: True, poll=0.02)
    assert str(failed.value).startswith("The style transfer failed: ")
    assert "damaged" in str(failed.value) and failed.value.code == "invalid_image"


def test_progress_text_describes_queue_and_steps():
    queued = {"state": "queued", "queue_position": 2}
    assert client.describe(queued) == "Waiting for the server (2 ahead)"
    running = {"state": "running", "progress": {"scale": 2, "scales": 3, "step": 40, "steps": 90}}
    running["progress"]["eta"] = 11.6
    assert client.describe(running) == "Neural style: Scale 2/3, step 40 of 90, about 12 s left"


# -- the managed server and the watchdog ------------------------------------------------------
def test_managed_server_starts_once_is_reused_and_dies_with_gimp(tmp_path):
    gimp = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # "GIMP"
    try:
        url, token = managed.server(str(tmp_path), sys.executable, gimp.pid)
        state = json.loads((tmp_path / managed.STATE_FILE).read_text())
        assert state["url"] == url and state["token"] == token
        assert client.ServerClient(url, token).json("GET", "/info")["auth"] is True
        with pytest.raises(errors.Unauthorized):
            client.ServerClient(url).json("GET", "/info")
        assert managed.server(str(tmp_path), sys.executable, gimp.pid) == (url, token)
        assert "ready on" in (tmp_path / managed.LOG_FILE).read_text()
    finally:
        gimp.kill()
        gimp.wait()
    deadline = time.monotonic() + 30
    while is_running(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not is_running(state["pid"]), "the server outlived GIMP"


def test_managed_server_without_a_recorded_python_says_how_to_install(tmp_path):
    assert managed.recorded_python(str(tmp_path)) == ""
    with pytest.raises(errors.ServerFailed, match="install.py --gimp"):
        managed.server(str(tmp_path), "", 1)
    (tmp_path / managed.ENVIRONMENT_FILE).write_text(json.dumps({"python": "/x/python"}))
    assert managed.recorded_python(str(tmp_path)) == "/x/python"


def test_watchdog_cancels_the_job_when_the_plugin_is_killed(server, content, style):
    api = client.ServerClient(server.url, TOKEN)
    job = api.submit(png_of(content), [("style.png", style)], SLOW)
    plugin = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    watchdog = subprocess.Popen(
        [
            sys.executable,
            str(PLUGIN / "nstgimp" / "watchdog.py"),
            str(plugin.pid),
            server.url,
            job["id"],
        ],
        env={"NST_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
    )
    try:
        time.sleep(1.0)
        assert api.status(job["id"])["state"] in ("queued", "running")
        plugin.kill()  # what GIMP does to a plug-in whose progress is canceled
        plugin.wait()
        assert watchdog.wait(20) == 0
        assert api.status(job["id"])["state"] == "canceled"
    finally:
        plugin.kill()
        watchdog.kill()


# -- the GIMP glue on a fake gi ---------------------------------------------------------------
@pytest.fixture()
def glue():
    import fake_gi

    saved = {name: sys.modules.get(name) for name in ("gi", "gi.repository", "nst_gimp")}
    fake_gi.install()
    fake_gi.CALLS.clear()
    module = importlib.import_module("nst_gimp")
    yield module, fake_gi
    for name, value in saved.items():
        if value is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = value


def test_result_is_inserted_above_the_source_in_one_undo_group(glue, server, content, tmp_path):
    nst_gimp, fake = glue
    style_file = tmp_path / "starry.png"
    style_file.write_bytes(png_of(content.convert("RGB").rotate(90, expand=True)))
    top = fake.Layer("Top", content, (0, 0))
    source = fake.Layer("Photo", content, (7, 5))
    image = fake.Image([top, source])
    config = fake.Config(styles=str(style_file), server=server.url, token=TOKEN)
    nst_gimp.stylize(image, [source], config)
    names = [layer.name for layer in image.get_layers()]
    assert names == ["Top", "Style: starry", "Photo"]
    new = image.get_layers()[1]
    assert new.offsets == (7, 5) and new.pil.size == content.size
    steps = [
        c[0] for c in fake.CALLS if c[0] in ("undo_group_start", "insert_layer", "undo_group_end")
    ]
    assert steps == ["undo_group_start", "insert_layer", "undo_group_end"]
    assert ("progress_end",) in fake.CALLS


def test_failures_leave_the_image_alone(glue, content, tmp_path):
    nst_gimp, fake = glue
    style_file = tmp_path / "style.png"
    style_file.write_bytes(png_of(content))
    source = fake.Layer("Photo", content)
    image = fake.Image([source])
    down = fake.Config(styles=str(style_file), server=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(errors.ServerNotRunning):
        nst_gimp.stylize(image, [source], down)
    with pytest.raises(errors.BadInput, match="No style image"):
        nst_gimp.stylize(image, [source], fake.Config(server="http://127.0.0.1:1"))
    with pytest.raises(errors.BadInput, match="not found"):
        nst_gimp.stylize(image, [source], fake.Config(styles="/no/such.png"))
    assert image.get_layers() == [source]
    assert not [c for c in fake.CALLS if c[0] in ("undo_group_start", "insert_layer")]
