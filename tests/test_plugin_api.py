"""Krita plugin: the scripting entry point and the dialog, with the fake Krita and a stub."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import plugin_env  # noqa: E402

APP = plugin_env.setup()

import fake_krita  # noqa: E402
from nst_krita import errors, job  # noqa: E402
from nst_krita.api import stylize_active_layer  # noqa: E402
from nst_krita.settings import KritaStore, Settings  # noqa: E402
from PIL import Image  # noqa: E402
from stub_server import StubServer, free_port, job_routes, parse_multipart  # noqa: E402


def png(width, height, rgba):
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), rgba).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture()
def krita():
    krita = fake_krita.Krita.reset()
    doc = krita.open(fake_krita.Document(20, 10))
    layer = doc.add_layer("Paint")
    layer.setPixelData(bytes((0, 0, 255, 255)) * 24, 2, 3, 6, 4)
    doc.setActiveNode(layer)
    doc.pixel_writes.clear()
    krita.doc, krita.layer = doc, layer
    return krita


@pytest.fixture()
def style_file(tmp_path):
    path = tmp_path / "starry_night.png"
    path.write_bytes(png(8, 8, (0, 0, 200, 255)))
    return path


def test_stylize_active_layer_returns_the_new_layer(krita, style_file, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 5)
    with StubServer() as stub:
        job_routes(stub, result=png(6, 4, (0, 255, 0, 255)))
        layer = stylize_active_layer([str(style_file)], {"size": 64}, server=stub.url)
        parts = parse_multipart(stub.requests_to("POST", "/jobs")[0])
    assert layer.name() == "Style: starry_night"
    assert [n.name() for n in krita.doc.rootNode().childNodes()] == ["Paint", "Style: starry_night"]
    assert layer.bounds().getRect() == (2, 3, 6, 4)
    assert parts["style"][0][0] == "starry_night.png"
    assert Image.open(io.BytesIO(parts["content"][0][2])).size == (6, 4)
    assert "mask" not in parts


def test_server_down_raises_and_leaves_the_document_alone(krita, style_file):
    port = free_port()
    before = krita.layer.pixelData(0, 0, 20, 10)
    with pytest.raises(errors.ServerNotRunning, match=f"nst serve --port {port}"):
        stylize_active_layer([style_file], {}, server=f"http://127.0.0.1:{port}")
    assert [n.name() for n in krita.doc.rootNode().childNodes()] == ["Paint"]
    assert krita.layer.pixelData(0, 0, 20, 10) == before and krita.doc.pixel_writes == []


def test_missing_style_file_is_reported_before_any_upload(krita, tmp_path):
    with pytest.raises(errors.StyleError, match="Could not read the style image"):
        stylize_active_layer([tmp_path / "nope.jpg"], {}, server="http://127.0.0.1:1")


def test_another_open_document_can_be_the_style(krita, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 5)
    style_doc = fake_krita.Document(4, 4, path="/art/mosaic.kra")
    style_doc.add_layer("L").setPixelData(bytes((10, 20, 30, 255)) * 16, 0, 0, 4, 4)
    krita.docs.append(style_doc)
    with StubServer() as stub:
        job_routes(stub, result=png(6, 4, (0, 255, 0, 255)))
        layer = stylize_active_layer([style_doc], {}, server=stub.url)
        parts = parse_multipart(stub.requests_to("POST", "/jobs")[0])
    assert layer.name() == "Style: mosaic"
    sent = Image.open(io.BytesIO(parts["style"][0][2]))
    assert sent.size == (4, 4) and sent.getpixel((0, 0)) == (30, 20, 10, 255)


def test_saved_settings_are_used_when_no_arguments_are_given(krita, style_file, monkeypatch):
    monkeypatch.setattr(job, "POLL_MS", 5)
    with StubServer() as stub:
        saved = Settings(mode="external", server=stub.url, token="tok", quality="draft", seed=9)
        saved.save(KritaStore(krita))
        job_routes(stub, result=png(6, 4, (0, 255, 0, 255)))
        stylize_active_layer([style_file])
        request = stub.requests_to("POST", "/jobs")[0]
        parts = parse_multipart(request)
    assert request["headers"]["Authorization"] == "Bearer tok"
    import json

    params = json.loads(parts["params"][0][2])
    assert params["quality"] == "draft" and params["seed"] == 9


def test_dialog_shows_recent_styles_and_saves_its_choices(krita, style_file, tmp_path):
    from nst_krita.ui.dialog import StyleDialog

    other = tmp_path / "other.png"
    other.write_bytes(png(8, 8, (200, 0, 0, 255)))
    settings = Settings(
        recent_styles=[str(style_file), str(tmp_path / "gone.png")],
        last_styles=[{"file": str(style_file)}],
    )
    dialog = StyleDialog(krita, settings, krita.doc)
    assert dialog.styles.count() == 1  # the missing file is not listed
    assert not dialog.styles.item(0).icon().isNull()  # a thumbnail
    dialog.add_style_file(str(other))
    dialog.strength.setValue(100)
    dialog.quality.setCurrentIndex(0)
    dialog.server.setText("http://127.0.0.1:9999")
    assert [r.name for r in dialog.selected_refs()] == ["starry_night", "other"]
    dialog.apply_to(settings)
    assert settings.strength == 100 and settings.quality == "draft"
    assert settings.server == "http://127.0.0.1:9999"
    assert settings.last_styles == [{"file": str(style_file)}, {"file": str(other)}]
    assert settings.recent_styles[:2] == [str(style_file), str(other)]
    assert dialog.strength_label.text() == "10.00\u00d7"


def test_dialog_test_connection_shows_the_device_or_the_error(krita):
    from nst_krita.ui.dialog import StyleDialog

    with StubServer() as stub:
        stub.json(
            "GET",
            "/info",
            200,
            {
                "version": "0.1.0",
                "device": "cuda:0",
                "precision": "bf16",
                "weights": "caffe",
                "queue": {"length": 0, "max": 8},
            },
        )
        dialog = StyleDialog(krita, Settings(server=stub.url), krita.doc)
        dialog.test_connection()
        assert plugin_env.process_until(lambda: dialog.test_button.isEnabled())
    assert "cuda:0" in dialog.status.text() and "bf16" in dialog.status.text()
    dialog.server.setText(f"http://127.0.0.1:{free_port()}")
    dialog.test_connection()
    assert plugin_env.process_until(lambda: dialog.test_button.isEnabled())
    assert "nst serve" in dialog.status.text()


def test_dialog_estimates_the_time_for_the_layer_and_quality(krita):
    from urllib.parse import parse_qs, urlsplit

    from nst_krita.ui.dialog import QUALITY_LABELS, StyleDialog, describe_time

    estimate = {
        "seconds": 840.0,
        "device": "cpu",
        "scales": [{"width": 2000, "height": 1500}, {"width": 4000, "height": 3000}],
    }
    with StubServer() as stub:
        stub.json("GET", "/estimate", 200, estimate)
        settings = Settings(mode="external", server=stub.url, quality="full")
        dialog = StyleDialog(krita, settings, krita.doc, target_size=(4000, 3000))
        assert dialog.quality.currentText() == QUALITY_LABELS["full"]
        assert plugin_env.process_until(lambda: "about" in dialog.estimate.text())
        assert dialog.estimate.text() == "about 14 min on cpu, painted at 4000x3000 px"
        query = parse_qs(urlsplit(stub.requests_to("GET", "/estimate")[-1]["path"]).query)
        assert query["width"] == ["4000"] and query["height"] == ["3000"]
        assert json.loads(query["params"][0])["quality"] == "full"
        # Another quality asks again; a smaller working size says it is enlarged.
        estimate["scales"] = [{"width": 512, "height": 384}]
        stub.json("GET", "/estimate", 200, estimate)
        dialog.quality.setCurrentIndex(1)
        assert plugin_env.process_until(lambda: "enlarged" in dialog.estimate.text())
        assert "512x384 px and enlarged to 4000x3000" in dialog.estimate.text()
    dialog.server.setText(f"http://127.0.0.1:{free_port()}")
    dialog.request_estimate()
    assert plugin_env.process_until(lambda: dialog.estimate.text().startswith("unknown"))
    assert "nst serve" in dialog.estimate.text()
    assert describe_time(42) == "42 s" and describe_time(5400) == "1 h 30 min"


def test_version_guard_explains_what_is_needed():
    from nst_krita import unsupported_reason

    assert unsupported_reason((3, 11), "5.1.5") is None
    assert unsupported_reason((3, 8), "6.0.0-prealpha") is None
    assert "Python 3.8 or newer (this one has 3.7)" in unsupported_reason((3, 7), "5.2.0")
    assert "Krita 5.0 or newer (this is 4.4.8)" in unsupported_reason((3, 10), "4.4.8")
