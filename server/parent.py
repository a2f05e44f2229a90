"""`--parent-pid`: a server started by an editor (Krita) dies with it, even if it crashes.

Two mechanisms: on Linux the kernel sends SIGTERM when the parent dies (prctl
PR_SET_PDEATHSIG), at once; on every OS a thread checks once a second that the parent
is still there. Either way the server stops as on Ctrl+C, and exits hard if that hangs.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("server")
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0
HARD_EXIT_AFTER = 15.0  # seconds after the parent is gone, if stopping hangs


def is_alive(pid: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x00100000, False, pid)  # SYNCHRONIZE
        if not handle:
            return False
        try:
            return kernel32.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: running
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process by that number: it exists
        return True
    return True


def _ask_kernel(pid: int) -> None:
    """Linux: SIGTERM to us when our parent exits, if `pid` is our parent."""
    if not sys.platform.startswith("linux") or os.getppid() != pid:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: polling is enough
        pass


def _stop_self() -> None:
    if sys.platform == "win32":  # pragma: no cover
        import _thread

        _thread.interrupt_main()  # a KeyboardInterrupt in waitress's loop: it stops
    else:
        os.kill(os.getpid(), signal.SIGTERM)  # the same path as Ctrl+C / kill


def watch(pid: int, stop: Callable[[], None] = _stop_self) -> threading.Thread:
    """Stop this server when process `pid` is gone. Returns the (daemon) watching thread."""
    _ask_kernel(pid)

    def run() -> None:
        while is_alive(pid):
            time.sleep(POLL_SECONDS)
        log.info("the parent process %d is gone: stopping", pid)
        stop()
        time.sleep(HARD_EXIT_AFTER)
        os._exit(0)

    thread = threading.Thread(target=run, name="nst-parent-watch", daemon=True)
    thread.start()
    return thread
