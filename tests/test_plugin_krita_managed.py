"""Managed mode in a real Krita: the plugin starts, reuses, restarts and stops its own server.

Two Krita launches with the plugin installed by install.py (which records this test run's
Python as the server's): one runs the scenarios and quits normally, the other starts the
server and is then killed outright. No server is started by the test itself, and none may
be left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "krita"))
import krita_harness as harness  # noqa: E402
from krita_harness import scenario  # noqa: E402

from server.testing import still_running  # noqa: E402

pytestmark = [
    pytest.mark.krita,
    pytest.mark.skipif(harness.missing_tools() is not None, reason=str(harness.missing_tools())),
]

SCENARIOS = [
    "managed_first",
    "managed_dies",
    "managed_restart",
    "managed_broken_env",
    "managed_last",  # leaves the server running: quitting Krita must stop it
]


def launch(work: Path, content_path: Path, style_path: Path, scenarios, signals=None, **extra):
    home, out = work / "home", work / "out"
    home.mkdir()
    image = work / "sample.png"  # the bundled sample photo, as it is
    shutil.copy(content_path, image)
    style = work / "starry_night.jpg"
    shutil.copy(style_path, style)
    installed = harness.make_home(home)
    spec = {
        "out": str(out),
        "style": str(style),
        "managed_params": {"quality": "draft", "seed": 1},
        "scenarios": scenarios,
        **extra,
    }
    started = time.monotonic()
    process, report = harness.run_krita(home, image, spec, timeout=300, signals=signals)
    ended = time.monotonic()
    if report is None or not report.get("done"):
        pytest.fail(
            f"Krita did not finish the scenarios (exit {process.returncode}).\n"
            f"report: {json.dumps(report, indent=1)[-3000:]}\nstderr: {process.stderr[-3000:]}"
        )
    pids_file = out / "server_pids.txt"
    pids = sorted({int(p) for p in pids_file.read_text().split()}) if pids_file.exists() else []
    return {
        "report": report,
        "out": out,
        "installed": installed,
        "pids": [p for p in pids if p > 0],
        "seconds": ended - started,
        "left": still_running([p for p in pids if p > 0], 5.0),
    }


@pytest.fixture(scope="module")
def managed_run(tmp_path_factory, content_path, style_path):
    return launch(tmp_path_factory.mktemp("krita-managed"), content_path, style_path, SCENARIOS)


def test_install_recorded_this_environment(managed_run):
    said = managed_run["installed"].stdout
    assert f"Recorded the style server's Python {sys.executable}" in said


def test_first_job_starts_the_server_and_the_second_reuses_it(managed_run):
    result = scenario(managed_run, "managed_first")
    assert result["state_before"] == "stopped"
    assert result["server"]["state"] == "ready" and result["server"]["pid"] > 0
    assert result["server"]["url"].startswith("http://127.0.0.1:")
    assert result["server_after"] == result["server"]  # the same process, the same port
    names = [layer["name"] for layer in result["layers"]]
    assert names.count(result["first_layer"]) == 2  # both results inserted
    assert result["layers_after_undo"] == managed_run["report"]["layers_start"]
    assert result["source_unchanged"]
    # The target: from no server to the first result (draft, the bundled sample).
    print(
        f"\nmanaged: first job {result['first_job_s']:.1f} s (server start included), "
        f"second {result['second_job_s']:.1f} s, Krita start to first result "
        f"{result['since_start'] + result['first_job_s']:.1f} s"
    )
    assert result["log"].count("ready on") == 1  # its log, in Krita's data folder
    assert Path(result["log_path"]).parent.name == "krita"


def test_server_dying_mid_job_is_explained_and_offers_a_restart(managed_run):
    result = scenario(managed_run, "managed_dies")
    assert result["running"] and result["finished"]
    assert len(result["asked"]) == 1
    assert "stopped during the job" in result["asked"][0]
    assert "not changed" in result["asked"][0]
    assert result["unchanged"] and result["source_unchanged"]
    assert result["state"] == "failed"


def test_after_a_death_it_starts_again_on_another_port_when_the_old_one_is_taken(managed_run):
    result = scenario(managed_run, "managed_restart")
    assert result["layer"].startswith("Style:")
    assert result["server"]["state"] == "ready"
    assert result["server"]["url"] != result["old_url"]


def test_a_broken_environment_gives_a_clear_message_fast(managed_run):
    result = scenario(managed_run, "managed_broken_env")
    missing = result["missing"]["error"]
    assert missing is not None and "/nonexistent/venv/bin/python" in missing["message"]
    assert "install.py" in missing["message"]
    no_nst = result["no_nst"]["error"]
    assert no_nst is not None and "does not have the package" in no_nst["message"]
    assert result["missing"]["seconds"] < 10 and result["no_nst"]["seconds"] < 60
    assert result["unchanged"]


def test_quitting_krita_leaves_no_server_behind(managed_run):
    last = scenario(managed_run, "managed_last")
    assert last["server"]["state"] == "ready"
    assert len(managed_run["pids"]) >= 2  # the first server and the restarted one
    assert managed_run["left"] == [], "servers left running after Krita quit"


def test_killing_krita_outright_takes_its_server_along(tmp_path, content_path, style_path):
    killed = {}

    def kill_krita() -> None:
        pids = json.loads((tmp_path / "out" / "kill_krita").read_text())
        killed.update(pids)
        os.kill(pids["krita"], signal.SIGKILL)
        killed["at"] = time.monotonic()

    run = launch(
        tmp_path,
        content_path,
        style_path,
        ["managed_then_crash"],
        signals={"kill_krita": kill_krita},
        linger=True,
    )
    assert killed.get("server", 0) > 0
    assert still_running([killed["server"]], max(0.0, killed["at"] + 5.0 - time.monotonic())) == []
    assert run["left"] == []
