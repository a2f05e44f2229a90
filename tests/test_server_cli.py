"""`nst serve` / `python -m server`: flags, refusal to listen openly without a token, and a
prompt, clean exit on SIGTERM/SIGINT while a job runs."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from conftest import small
from PIL import Image

from nst.client import Client
from server.cli import build_parser, is_loopback, main
from server.testing import ServerProcess, still_running


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.lan"])
def test_refuses_non_loopback_host_without_token(host: str, capsys, monkeypatch) -> None:
    monkeypatch.delenv("NST_TOKEN", raising=False)
    assert main(["--host", host]) == 2
    err = capsys.readouterr().err
    assert f"refusing to listen on {host} without a token" in err
    assert "--token" in err and err.count("\n") == 1  # one clear line


def test_refusal_from_the_command_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NST_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "server", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2
    assert "without a token" in proc.stderr


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")


def test_flags_and_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.device, args.queue_size) == ("127.0.0.1", 8765, "auto", 16)
    args = build_parser().parse_args(
        [
            "--host",
            "::1",
            "--port",
            "9000",
            "--token",
            "t",
            "--device",
            "cpu",
            "--max-pixels",
            "1000",
            "--max-upload-mb",
            "5",
            "--queue-size",
            "3",
            "--result-ttl",
            "60",
            "--log-level",
            "debug",
        ]
    )
    assert (args.port, args.token, args.max_pixels, args.max_upload_mb) == (9000, "t", 1000, 5)
    assert (args.queue_size, args.result_ttl, args.log_level) == (3, 60, "debug")


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--queue-size", "0"),
        ("--port", "99999"),
        ("--port", "-1"),
        ("--max-upload-mb", "0"),
        ("--max-pixels", "0"),
        ("--result-ttl", "-5"),
        ("--threads", "0"),
    ],
)
def test_out_of_range_flags_exit_2(flag: str, value: str, capsys) -> None:
    assert main([flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nst serve: {flag} must") and err.count("\n") == 1


def test_bad_flag_values_exit_2(capsys) -> None:
    assert main(["--device", "tpu"]) == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_while_a_job_runs_exits_promptly(sig: int, content_path, style_path) -> None:
    """Under load: a running job, a /stylize request waiting behind it, an /events stream
    and pollers hammering the status; the signal must still stop the process at once."""
    proc = ServerProcess("--log-level", "info").start()
    stop_polling = threading.Event()
    try:
        client = Client(proc.url)
        image = small(content_path, 64)
        job = client.submit(image, style_path, {"size": 64, "iterations": 5000, "scales": 1})
        deadline = time.monotonic() + 60
        while job.status().step < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)

        def hammer() -> None:
            session = requests.Session()
            while not stop_polling.is_set():
                try:
                    session.get(f"{proc.api}/jobs/{job.id}", timeout=5)
                except requests.RequestException:
                    return

        def wait_sync() -> None:
            with contextlib.suppress(requests.RequestException):
                requests.post(
                    proc.api + "/stylize",
                    timeout=30,
                    files={"content": png(image), "style": png(image)},
                )

        def follow_events() -> None:
            with contextlib.suppress(requests.RequestException):
                with requests.get(
                    f"{proc.api}/jobs/{job.id}/events", stream=True, timeout=30
                ) as response:
                    for _ in response.iter_lines():
                        pass

        threads = [
            threading.Thread(target=f, daemon=True)
            for f in (hammer, hammer, hammer, hammer, wait_sync, follow_events)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        code = proc.stop(sig, timeout=15)
        took = time.monotonic() - started
        log = proc.output()
    finally:
        stop_polling.set()
        proc.__exit__(None, None, None)
    assert code == 0, log
    assert took < 5.0, f"took {took:.1f} s to exit"
    assert "stopping" in log and "canceled" in log


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_ready_line_names_url_device_precision_weights() -> None:
    with ServerProcess("--device", "cpu") as proc:
        log = proc.output()
    line = next(line for line in io.StringIO(log) if "ready" in line)
    assert f"http://127.0.0.1:{proc.port}/api/v1" in line
    assert "device cpu" in line and "precision" in line and "weights caffe" in line


def _nice(pid: int, tid: int) -> int:
    with open(f"/proc/{pid}/task/{tid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[16])  # field 19: nice


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority: Linux")
def test_request_threads_yield_to_the_job_worker(content_path, style_path) -> None:
    """Status polls must not preempt the job: request threads run at a lower priority than
    the worker thread and the threads torch starts for it."""
    with ServerProcess() as proc:
        Client(proc.url).submit(small(content_path, 32), style_path, {"size": 32}).wait()
        pid = proc.proc.pid
        base = os.getpriority(os.PRIO_PROCESS, os.getpid())
        nices = {int(tid): _nice(pid, int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}
    assert nices[pid] == min(base + 10, 19)  # the main thread, which accepts connections
    assert base in nices.values()  # the worker
    assert sum(n > base for n in nices.values()) >= 4  # waitress's request threads


# -- what an editor that manages its own server needs (--port 0, --parent-pid) ---------------
def _start_and_read_ready_line(
    args: list[str], timeout: float = 90.0
) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", *args], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    for line in proc.stderr:
        if "ready on" in line:
            return proc, line
        assert time.monotonic() < deadline, "no ready line"
    raise AssertionError(f"the server exited with {proc.wait()} before its ready line")


def _gone_within(proc: subprocess.Popen, seconds: float) -> bool:
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_port_zero_takes_a_free_port_and_says_which() -> None:
    proc, line = _start_and_read_ready_line(["--port", "0"])
    try:
        url = re.search(r"ready on (http://127\.0\.0\.1:(\d+)/api/v1)", line)
        assert url and int(url.group(2)) > 0
        assert requests.get(url.group(1) + "/health", timeout=5).json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(15)


def test_parent_pid_that_is_gone_stops_the_server() -> None:
    # Not our real parent, so the once-a-second check is what notices.
    parent = subprocess.Popen(["sleep", "120"])
    proc, _ = _start_and_read_ready_line(["--port", "0", "--parent-pid", str(parent.pid)])
    try:
        time.sleep(1.5)
        assert proc.poll() is None  # the parent lives: the server serves
        parent.kill()
        parent.wait()
        assert _gone_within(proc, 5.0), "the server outlived its parent"
        assert proc.returncode == 0  # stopped as on Ctrl+C, not killed
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl: Linux")
def test_server_dies_with_a_parent_killed_outright(tmp_path) -> None:
    # An editor that crashes (SIGKILL): its child server must not be left behind.
    pid_file = tmp_path / "server.pid"
    script = (
        "import os, subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-m', 'server', '--port', '0', '--parent-pid',"
        " str(os.getpid())], stderr=subprocess.PIPE, text=True)\n"
        "for line in p.stderr:\n"
        "    if 'ready on' in line: break\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(120)\n"
    )
    editor = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 90
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and editor.poll() is None
        time.sleep(0.1)
    server_pid = int(pid_file.read_text())
    editor.kill()
    editor.wait()
    assert still_running([server_pid], 5.0) == [], "the server outlived the killed editor"


def test_parent_pid_of_no_process_is_refused(capsys) -> None:
    assert main(["--parent-pid", "999999999"]) == 2
    assert "no such process" in capsys.readouterr().err
