"""Run a real Krita headless (Xvfb) with the plugin installed by install.py and a driver.

Recipe and pitfalls: ../shared/KRITA.md. Krita gets its own Xvfb, a throwaway HOME, a PATH
without the virtualenv (else its embedded Python loses Debian's PyQt5), `timeout`, and the test-only
driver plugin from tests/krita/pykrita, which runs the scenarios and quits.

Two Kritas: "system" is this machine's (Debian 12: 5.1.5), "trixie" the one in the Debian 13
chroot of scripts/trixie_chroot.sh (5.2.9, Python 3.13), the version most users have. The
chroot Krita sees the test's folders and the X socket through bind mounts at the same paths,
and the server on 127.0.0.1 through the shared network; the mounts last only while it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DRIVER = "nst_e2e_driver"
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
CHROOT = Path(os.environ.get("NST_CHROOT", "/var/cache/nst-trixie"))
FLAVOURS = ("system", "trixie")


def missing_tools(flavour: str = "system") -> str | None:
    """Why a real-Krita test cannot run here, or None."""
    if flavour == "trixie":
        if not sys.platform.startswith("linux") or os.geteuid() != 0:
            return "Krita 5.2 runs in a Debian 13 chroot, which needs Linux and root"
        if not (CHROOT / "usr" / "bin" / "krita").is_file():
            return f"no Krita 5.2 in a Debian 13 chroot at {CHROOT}: scripts/trixie_chroot.sh"
        if shutil.which("Xvfb", path=CLEAN_PATH) is None:
            return "needs Xvfb (apt-get install xvfb)"
        return None
    missing = [tool for tool in ("krita", "Xvfb") if shutil.which(tool, path=CLEAN_PATH) is None]
    if missing:
        tools = " and ".join(missing)
        return f"needs {tools} (apt-get install krita xvfb xauth imagemagick)"
    return None


@contextlib.contextmanager
def virtual_display(screen: str = "1600x1000x24", timeout: float = 30.0):
    """An Xvfb on a display number it picks itself (-displayfd), so runs in parallel never
    race for one, as `xvfb-run -a` can. Yields ":N"."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        number = b""
        deadline = time.monotonic() + timeout
        while not number.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                raise RuntimeError("Xvfb did not start")
            chunk = os.read(read_end, 16)
            if not chunk:
                raise RuntimeError(f"Xvfb exited (code {process.wait()})")
            number += chunk
        yield ":" + number.decode().strip()
    finally:
        os.close(read_end)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def real_server(port: int, log_path: Path, timeout: float = 90.0):
    """The project's server (`python -m server`) on a port, until the block ends.

    Yields (url, stop): `stop()` terminates it early (SIGTERM, as a person pressing Ctrl+C).
    """
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError("the server exited: " + log_path.read_text()[-2000:])
                try:
                    with urllib.request.urlopen(url + "/api/v1/health", timeout=2) as reply:
                        if reply.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start: " + log_path.read_text())
                time.sleep(0.2)

            def stop():
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

            yield url, stop
        finally:
            if process.poll() is None:
                stop()


def scenario(run: dict, name: str) -> dict:
    """One scenario's result from the driver's report; fails if it did not run or raised."""
    result = run["report"]["scenarios"].get(name)
    assert result is not None, f"scenario {name} did not run"
    assert "exception" not in result, result.get("traceback")
    return result


def make_home(home: Path) -> subprocess.CompletedProcess:
    """A fresh Krita home with the plugin installed by install.py and the driver beside it."""
    env = clean_env(home)
    installed = subprocess.run(
        [sys.executable, str(ROOT / "install.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    pykrita = home / ".local" / "share" / "krita" / "pykrita"
    shutil.copytree(HERE / "pykrita" / DRIVER, pykrita / DRIVER)
    shutil.copy(HERE / "pykrita" / (DRIVER + ".desktop"), pykrita)
    kritarc = home / ".config" / "kritarc"
    text = kritarc.read_text()
    kritarc.write_text(text.replace("[python]\n", f"[python]\nenable_{DRIVER}=true\n", 1))
    return installed


def clean_env(home: Path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "VIRTUAL_ENV",
            "PYTHONHOME",
            "PYTHONPATH",
            "XDG_DATA_HOME",
            "XDG_CONFIG_HOME",
            "QT_QPA_PLATFORM",
        )
    }
    env.update(HOME=str(home), PATH=CLEAN_PATH)
    runtime = Path(f"/tmp/runtime-{os.getuid()}")
    runtime.mkdir(mode=0o700, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    return env


def run_krita(
    home: Path, image: Path, spec: dict, timeout: int = 150, signals=None, flavour="system"
):
    """Krita on `image` with the driver running `spec`; returns (completed process, report).

    `signals`: {file name: callback}; when the driver creates that file in the out folder,
    the callback runs once (e.g. stop the server while a job runs). `flavour`: which Krita.
    """
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = clean_env(home)
    env["NST_E2E_SPEC"] = str(spec_path)
    shared = Path(os.path.commonpath([home, image, out]))
    if flavour == "trixie":
        runtime = shared / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    for attempt in range(2):
        with virtual_display() as display:
            env["DISPLAY"] = display
            if flavour == "trixie":
                with chroot_mounts([shared, Path("/tmp/.X11-unix")]):
                    process = _krita(env, image, out, timeout, dict(signals or {}), CHROOT)
            else:
                process = _krita(env, image, out, timeout, dict(signals or {}))
        # Seen once with parallel test runs: Krita could not open the fresh display. Retry.
        if "could not connect to display" not in process.stderr or attempt:
            break
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return process, report


@contextlib.contextmanager
def chroot_mounts(folders: list[Path]):
    """/proc, and each host folder at the same path inside the chroot, while Krita runs."""
    mounted: list[Path] = []
    try:
        for source in [None, *folders]:
            target = CHROOT / ("proc" if source is None else str(source).lstrip("/"))
            if os.path.ismount(target):
                continue
            target.mkdir(parents=True, exist_ok=True)
            how = ["-t", "proc", "proc"] if source is None else ["--bind", str(source)]
            subprocess.run(["mount", *how, str(target)], check=True)
            mounted.append(target)
        yield
    finally:
        for target in reversed(mounted):
            if subprocess.run(["umount", str(target)], check=False).returncode:
                subprocess.run(["umount", "-l", str(target)], check=False)


def _krita(env, image, out, timeout, pending, chroot: Path | None = None):
    command = ["timeout", "-k", "10", str(timeout), "krita", "--nosplash", str(image)]
    if chroot is not None:  # the same command in the chroot, with exactly this environment
        pairs = [f"{key}={value}" for key, value in env.items()]
        binary = shutil.which("chroot", path="/usr/sbin:/sbin:/usr/bin:/bin") or "chroot"
        command = [binary, str(chroot), "/usr/bin/env", "-i", *pairs, *command]
    with open(out / "krita.log", "w+") as log:
        log.write(f"DISPLAY={env['DISPLAY']}\n")
        log.flush()
        krita = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while krita.poll() is None:
            for name in [n for n in pending if (out / n).exists()]:
                pending.pop(name)()
            time.sleep(0.05)
        log.seek(0)
        return subprocess.CompletedProcess(krita.args, krita.returncode, "", log.read())
