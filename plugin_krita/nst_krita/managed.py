"""The style server the plugin starts and stops itself (managed mode, the default).

When a run needs the server, the plugin starts `python -m server` from the recorded Python
environment as a child process: loopback only, a port the OS picks (`--port 0`), a fresh
random token (in the environment, not on the command line), and `--parent-pid` so the server
dies with Krita even if Krita crashes. It waits for the ready line on stderr without
blocking Krita, then runs the job; the server is stopped when Krita quits. Its log goes to a
file the dialog can open.
"""

from __future__ import annotations

import json
import os
import re
import secrets

from .errors import NSTError
from .qt import QObject, QProcess, QProcessEnvironment, QStandardPaths, QTimer, pyqtSignal

READY = re.compile(
    r"ready on (?P<url>https?://[^\s/]+)/api/v1 \(device (?P<device>[^,]+), "
    r"precision (?P<precision>[^,]+)"
)
START_TIMEOUT_MS = 180_000  # a cold start (torch, the weights) is seconds; a slow disk more
# What Krita's embedded Python sets for itself must not reach the server's Python.
LEAKING = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONEXECUTABLE",
    "PYTHONNOUSERSITE",
    "VIRTUAL_ENV",
    "__PYVENV_LAUNCHER__",
)
ENVIRONMENT_FILE = "environment.json"  # written by install.py beside this module
LOG_LINES = 40

STOPPED, STARTING, READY_STATE, FAILED = "stopped", "starting", "ready", "failed"


class EnvironmentMissing(NSTError):
    pass


class ServerFailed(NSTError):
    pass


def recorded_python():
    """The interpreter install.py recorded, or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), ENVIRONMENT_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            python = json.load(handle).get("python")
    except (OSError, ValueError, AttributeError):
        return None
    return python if isinstance(python, str) and python else None


def how_to_record() -> str:
    return (
        "Run install.py with the Python of the environment where nst is installed, e.g. "
        "`.venv/bin/python install.py` in the nst folder after the README's first command "
        "(or `python install.py --python PATH`), then restart Krita; or enter that Python in "
        "the dialog under Server."
    )


def default_log_path() -> str:
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    folder = folder or os.path.expanduser("~")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, "nst_krita_server.log")


def child_environment(token: str) -> QProcessEnvironment:
    env = QProcessEnvironment.systemEnvironment()
    for name in LEAKING:
        env.remove(name)
    env.insert("NST_TOKEN", token)
    env.insert("PYTHONUNBUFFERED", "1")
    return env


def explain_failure(log_tail: str, python: str) -> str:
    """The server's last log lines turned into a sentence for people."""
    text = log_tail.lower()
    if "no module named" in text:
        module = re.search(r"no module named '?([\w.]+)", log_tail, re.IGNORECASE)
        name = module.group(1) if module else "nst"
        return (
            "The Python environment at %s does not have the package '%s' the server needs. "
            "Install nst into it (`%s -m pip install -e .` in the nst folder), or point the "
            "plugin at the environment where it is installed. %s"
            % (python, name, python, how_to_record())
        )
    if "cannot listen" in text or "address already in use" in text:
        return "The style server could not open a port on this computer: " + last_line(log_tail)
    if "out of memory" in text or "memoryerror" in text or "cannot allocate" in text:
        return (
            "The style server ran out of memory while starting. Close other programs and try again."
        )
    return "The style server did not start: " + last_line(log_tail)


def last_line(log_tail: str) -> str:
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class ManagedServer(QObject):
    """One server process per Krita. `ensure(callback)` starts it if needed and calls
    `callback(error)` (None once it is ready) without blocking the UI."""

    state_changed = pyqtSignal(str, str)  # state, a line for people

    def __init__(self, python=None, log_path=None, parent=None):
        super().__init__(parent)
        self.python = python  # None: the one install.py recorded
        self.resolved = python  # the Python last started
        self.log_path = log_path
        self.state = STOPPED
        self.text = "Not running."
        self.url = ""
        self.token = ""
        self.device = ""
        self.precision = ""
        self.process = None
        self._waiting = []
        self._buffer = ""
        self._tail = []
        self._log = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._start_timed_out)

    # -- public ------------------------------------------------------------------------------
    def ensure(self, callback):
        """Call `callback(None)` once the server is ready (starting it if needed), or
        `callback(error)` with an NSTError saying why it cannot be."""
        if self.state == READY_STATE and self._running():
            callback(None)
            return
        self._waiting.append(callback)
        if self.state != STARTING:
            self.start()

    def start(self):
        if self._running():
            return
        python = self.python or recorded_python()
        if not python:
            return self._fail(
                EnvironmentMissing(
                    "The plugin does not know which Python runs the style "
                    "server. " + how_to_record()
                )
            )
        if not os.path.isfile(python):
            return self._fail(
                EnvironmentMissing(
                    "The Python environment recorded for the style server is gone (%s). %s"
                    % (python, how_to_record())
                )
            )
        self.resolved = python
        self.token = secrets.token_urlsafe(24)
        self.url = ""
        self._buffer, self._tail = "", []
        self._open_log()
        process = QProcess(self)
        process.setProcessEnvironment(child_environment(self.token))
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        # A folder of ours, not wherever Krita was started: `-m server` must find the
        # installed package, never a folder that happens to be called so.
        process.setWorkingDirectory(os.path.dirname(os.path.abspath(self.log_path)))
        self.process = process
        args = ["-m", "server", "--host", "127.0.0.1", "--port", "0"]
        args += ["--parent-pid", str(os.getpid())]
        self._set(STARTING, "Starting the style server...")
        self._timer.start(START_TIMEOUT_MS)
        process.start(python, args)

    def stop(self, wait_ms=5000):
        """Stop the server (as Ctrl+C would: jobs are canceled); kill it if it hangs."""
        process, self.process = self.process, None
        self._timer.stop()
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.finished.disconnect(self._finished)
            process.terminate()
            if not process.waitForFinished(wait_ms):
                process.kill()
                process.waitForFinished(2000)
        self._close_log()
        self._set(STOPPED, "Stopped.")
        self._answer(ServerFailed("The style server was stopped."))

    def pid(self):
        return int(self.process.processId()) if self._running() else 0

    def log_tail(self) -> str:
        return "\n".join(self._tail)

    # -- the process --------------------------------------------------------------------------
    def _running(self):
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def _read(self):
        process = self.sender() or self.process
        if process is None:
            return
        data = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        if self._log is not None:
            self._log.write(data)
            self._log.flush()
        self._buffer += data
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._tail = (self._tail + [line.rstrip()])[-LOG_LINES:]
            match = READY.search(line) if self.state == STARTING else None
            if match:
                self._timer.stop()
                self.url = match.group("url")
                self.device, self.precision = match.group("device"), match.group("precision")
                self._set(
                    READY_STATE, "Ready on %s (%s), %s." % (self.device, self.precision, self.url)
                )
                self._answer(None)

    def _finished(self, *_):
        self._timer.stop()
        self._read()
        self.process = None
        self._close_log()
        if self.state == STARTING:
            error = ServerFailed(explain_failure(self.log_tail(), self.resolved))
            self._fail(error)
        else:
            self._set(FAILED, "The style server stopped: %s" % last_line(self.log_tail()))

    def _error(self, error):
        if error == QProcess.ProcessError.FailedToStart:
            self._timer.stop()
            self.process = None
            self._close_log()
            self._fail(
                EnvironmentMissing(
                    "Could not run %s to start the style server. %s"
                    % (self.resolved, how_to_record())
                )
            )

    def _start_timed_out(self):
        tail = self.log_tail()
        process, self.process = self.process, None
        if process is not None:
            process.finished.disconnect(self._finished)
            process.kill()
            process.waitForFinished(2000)
        self._close_log()
        self._fail(
            ServerFailed(
                "The style server did not start within %d s. Its last words: %s"
                % (START_TIMEOUT_MS // 1000, last_line(tail))
            )
        )

    # -- state ----------------------------------------------------------------------------------
    def _fail(self, error):
        self._set(FAILED, str(error))
        self._answer(error)

    def _set(self, state, text):
        self.state, self.text = state, text
        self.state_changed.emit(state, text)

    def _answer(self, error):
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback(error)

    def _open_log(self):
        self._close_log()
        try:
            path = self.log_path or default_log_path()
            self.log_path = path
            self._log = open(path, "w", encoding="utf-8")
            self._log.write(
                "$ %s -m server --port 0 (started by Krita, pid %d)\n"
                % (self.resolved, os.getpid())
            )
        except OSError:
            self._log = None

    def _close_log(self):
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None


_instance = None


_KEEP = object()


def instance(python=_KEEP):
    """The one managed server of this Krita (made on first use). `python`, when given: the
    settings' choice (None: the recorded one), used from the next start on."""
    global _instance
    if _instance is None:
        _instance = ManagedServer(None if python is _KEEP else python)
    elif python is not _KEEP and _instance.state not in (READY_STATE, STARTING):
        _instance.python = python
    return _instance


def shutdown():
    """Stop the managed server, if any (Krita is quitting)."""
    if _instance is not None and _instance.process is not None:
        _instance.stop(wait_ms=3000)
