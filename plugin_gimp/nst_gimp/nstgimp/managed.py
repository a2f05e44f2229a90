"""The plug-in's own style server (managed mode): started once, shared by later runs.

A GIMP plug-in is a process that lives for one run, so the server it starts must outlive
it: it runs in its own session with `--parent-pid` set to GIMP's process, so it stops when
GIMP does (even if GIMP crashes), and its address and token are kept in a small state file
in GIMP's folder for the next run. Python: the one install.py recorded (environment.json
beside this package), where the `nst` engine is installed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time

from .client import ServerClient
from .errors import NSTError, ServerFailed

READY = re.compile(r"ready on (?P<url>https?://[^\s/]+)/api/v1")
START_TIMEOUT = 180.0  # a cold start (torch, the weights) takes seconds; a slow disk more
ENVIRONMENT_FILE = "environment.json"  # written by install.py
STATE_FILE = "nst_gimp_server.json"
LOG_FILE = "nst_gimp_server.log"
# What GIMP's Python sets for itself must not reach the server's Python.
LEAKING = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONNOUSERSITE", "VIRTUAL_ENV")


def recorded_python(folder: str = "") -> str:
    """The interpreter install.py recorded beside the plug-in, or ''."""
    folder = folder or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        with open(os.path.join(folder, ENVIRONMENT_FILE), encoding="utf-8") as handle:
            python = json.load(handle).get("python")
    except (OSError, ValueError, AttributeError):
        return ""
    return python if isinstance(python, str) else ""


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _reuse(state_path: str):
    """The running server of an earlier run, as (url, token), or None."""
    try:
        with open(state_path, encoding="utf-8") as handle:
            state = json.load(handle)
        url, token, pid = state["url"], state["token"], int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not is_alive(pid):
        return None
    try:
        ServerClient(url, token, timeout=5).json("GET", "/info")  # with the token: ours
    except NSTError:
        return None
    return url, token


def server(folder: str, python: str, parent_pid: int, timeout: float = START_TIMEOUT):
    """(url, token) of the plug-in's server: the running one, or one started now.

    folder: where the state and log files live (GIMP's own folder).
    """
    os.makedirs(folder, exist_ok=True)
    state_path = os.path.join(folder, STATE_FILE)
    running = _reuse(state_path)
    if running:
        return running
    if not python:
        raise ServerFailed(
            "The plug-in does not know where the style-transfer engine is installed. Run "
            "'python install.py --gimp' from the project folder (with the Python that has "
            "nst installed), or start 'nst serve' yourself and enter its address as Server."
        )
    token = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if k not in LEAKING}
    env["NST_TOKEN"] = token
    log_path = os.path.join(folder, LOG_FILE)
    command = [python, "-m", "server", "--port", "0", "--parent-pid", str(parent_pid)]
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env=env,
                **_detached(),
            )
        except OSError as error:
            raise ServerFailed(
                "Could not start the style-transfer server with %s (%s). Run "
                "'python install.py --gimp' again from the project folder." % (python, error)
            ) from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = _read(log_path)
        found = READY.search(text)
        if found:
            url = found.group("url")
            with open(state_path, "w", encoding="utf-8") as handle:
                json.dump({"url": url, "token": token, "pid": process.pid}, handle)
            return url, token
        if process.poll() is not None:
            raise ServerFailed(
                "The style-transfer server stopped as it started (exit %s). The end of its "
                "log (%s):\n%s" % (process.returncode, log_path, _tail(text))
            )
        time.sleep(0.2)
    process.terminate()
    raise ServerFailed(
        "The style-transfer server did not start within %d s; see its log: %s" % (timeout, log_path)
    )


def _detached() -> dict:
    """Popen options for a process that outlives the plug-in (its own session or group)."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(
            subprocess, "DETACHED_PROCESS", 0
        )
        return {"creationflags": flags}
    return {"start_new_session": True}


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
