"""Krita plugin, managed mode: the plugin's own server process, outside Krita (fast).

A real `python -m server` from this test run's environment, started and stopped by
nst_krita.managed as Krita would; the real-Krita tests are in test_plugin_krita_managed.py.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import plugin_env  # noqa: E402

APP = plugin_env.setup()

from nst_krita import managed  # noqa: E402
from nst_krita.settings import MemoryStore, Settings  # noqa: E402


def wait(server, states, timeout=90.0):
    assert plugin_env.process_until(lambda: server.state in states, timeout), server.text
    return server.state


def test_starts_a_ready_server_on_a_free_port_with_a_token_and_stops_it(tmp_path):
    server = managed.ManagedServer(sys.executable, str(tmp_path / "server.log"))
    seen, answers = [], []
    server.state_changed.connect(lambda state, text: seen.append(state))
    server.ensure(answers.append)
    server.ensure(answers.append)  # a second caller while it starts: answered too, once ready
    assert wait(server, (managed.READY_STATE, managed.FAILED)) == managed.READY_STATE
    assert answers == [None, None] and seen[:2] == ["starting", "ready"]
    assert server.url.startswith("http://127.0.0.1:") and server.device == "cpu"
    api = server.url + "/api/v1"
    assert requests.get(api + "/info", timeout=5).status_code == 401  # the token is required
    headers = {"Authorization": "Bearer " + server.token}
    assert requests.get(api + "/info", headers=headers, timeout=5).json()["device"] == "cpu"
    pid = server.pid()
    server.ensure(answers.append)  # ready: answered at once, no second process
    assert answers[-1] is None and server.pid() == pid
    log = Path(server.log_path).read_text()
    assert "ready on" in log
    server.stop()
    assert server.state == managed.STOPPED
    with pytest.raises(ProcessLookupError):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)


def test_krita_pythons_own_variables_do_not_reach_the_server(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/krita/share/krita/pykrita")
    monkeypatch.setenv("PYTHONHOME", "/krita/usr")
    env = managed.child_environment("t0ken")
    assert not env.contains("PYTHONPATH") and not env.contains("PYTHONHOME")
    assert env.value("NST_TOKEN") == "t0ken"


def test_a_missing_environment_says_how_to_fix_it(tmp_path):
    server = managed.ManagedServer(str(tmp_path / "gone" / "python"), str(tmp_path / "s.log"))
    answers = []
    server.ensure(answers.append)
    assert len(answers) == 1 and isinstance(answers[0], managed.EnvironmentMissing)
    assert "gone" in str(answers[0]) and "install.py" in str(answers[0])
    assert server.state == managed.FAILED


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs a Python without nst")
def test_a_python_without_nst_says_so(tmp_path):
    server = managed.ManagedServer("/usr/bin/python3", str(tmp_path / "s.log"))
    answers = []
    server.ensure(answers.append)
    assert plugin_env.process_until(lambda: answers, 30)
    assert isinstance(answers[0], managed.ServerFailed)
    assert "does not have the package 'server'" in str(answers[0])


def test_failure_messages_name_the_cause():
    assert "open a port" in managed.explain_failure(
        "OSError: [Errno 98] Address already in use", "py"
    )
    assert "out of memory" in managed.explain_failure("RuntimeError: out of memory", "py")
    assert managed.explain_failure("weird\nlast words\n", "py").endswith("last words")


def test_settings_default_to_managed_and_keep_the_mode():
    assert Settings().mode == "managed"
    store = MemoryStore()
    Settings(mode="external", python="/opt/env/bin/python").save(store)
    loaded = Settings.load(store)
    assert loaded.mode == "external" and loaded.python == "/opt/env/bin/python"
    store.write("mode", "cloud")  # unknown: back to the default
    assert Settings.load(store).mode == "managed"


def test_dialog_server_box_shows_the_mode_and_the_state(tmp_path):
    import fake_krita
    from nst_krita.ui.dialog import StyleDialog
    from nst_krita.ui.server_panel import MODE_LABELS

    krita = fake_krita.Krita.reset()
    settings = Settings(mode="managed", python=sys.executable)
    dialog = StyleDialog(krita, settings, None)
    panel = dialog.server_panel
    assert panel.mode.currentText() == MODE_LABELS["managed"]
    assert panel.pages.currentIndex() == 0 and panel.python.text() == sys.executable
    own = managed.instance()
    own.state_changed.emit(managed.STARTING, "Starting the style server...")
    assert panel.state.text() == "Starting the style server..."
    assert panel.stop_button.isEnabled() and not panel.start_button.isEnabled()
    own.state_changed.emit(managed.FAILED, "The style server did not start: boom")
    assert "boom" in panel.state.text() and panel.start_button.isEnabled()
    panel.mode.setCurrentIndex(1)  # external: address and token
    assert panel.pages.currentIndex() == 1
    dialog.apply_to(settings)
    assert settings.mode == "external"
