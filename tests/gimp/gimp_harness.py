"""Run a real GIMP 3 (Debian 13's, in a chroot) headless, with the plug-in installed.

The chroot comes from scripts/trixie_chroot.sh (`.ci/run` builds it and keeps it between
runs). It shares this machine's network, so the plug-in inside reaches a server started
here on 127.0.0.1. /proc is mounted into it only while GIMP runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CHROOT = Path(os.environ.get("NST_CHROOT", "/var/cache/nst-trixie"))
GIMP = "/usr/bin/gimp-console-3.0"


def missing() -> str | None:
    """Why GIMP 3 cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "the GIMP 3 chroot is Linux only"
    if os.geteuid() != 0:
        return "entering the GIMP 3 chroot needs root"
    if not (CHROOT / GIMP.lstrip("/")).is_file():
        return f"no GIMP 3 chroot at {CHROOT}: build it with scripts/trixie_chroot.sh"
    return None


def run_gimp(
    driver: Path, spec: dict, timeout: float = 300, gui: bool = False
) -> tuple[dict, str, Path]:
    """Install the plug-in into a fresh GIMP folder in the chroot, run `driver` in GIMP's
    batch interpreter with `spec`; returns (report, GIMP's output, the work folder here).
    gui: GIMP's windows on a virtual screen (for screenshots) instead of gimp-console."""
    work = CHROOT / "tmp" / f"nst-gimp-{uuid.uuid4().hex[:8]}"
    out = work / "out"
    out.mkdir(parents=True)
    inside = Path("/") / work.relative_to(CHROOT)
    subprocess.run(
        [sys.executable, str(ROOT / "install.py"), "--gimp-dir", str(work / "gimp3")],
        check=True,
        capture_output=True,
    )
    for name in spec.get("files", []):  # input files go in beside the driver
        shutil.copy(name, work / Path(name).name)
    shutil.copy(driver, work / "driver.py")
    spec = {
        **spec,
        "out": str(inside / "out"),
        "plugin_dir": str(inside / "gimp3/plug-ins/nst_gimp"),
    }
    for key in ("image",):
        if key in spec:
            spec[key] = str(inside / Path(spec[key]).name)
    spec["styles"] = [str(inside / Path(p).name) for p in spec.get("styles", [])]
    (work / "spec.json").write_text(json.dumps(spec))
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(inside / "home"),
        "GIMP3_DIRECTORY": str(inside / "gimp3"),
        "NST_GIMP_SPEC": str(inside / "spec.json"),
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(inside / "runtime"),
    }
    (work / "runtime").mkdir(mode=0o700)
    gimp = [GIMP, "-n", "-i"]
    if gui:
        screen = "-screen 0 1400x860x24"
        gimp = ["xvfb-run", "-a", "-s", screen, "/usr/bin/gimp-3.0", "--no-splash", "-n"]
    command = [
        "chroot",
        str(CHROOT),
        "/usr/bin/env",
        "-i",
        *[f"{k}={v}" for k, v in env.items()],
        "timeout",
        str(int(timeout)),
        *gimp,
        "--batch-interpreter",
        "python-fu-eval",
        "-b",
        f"exec(open({str(inside / 'driver.py')!r}).read())",
        "--quit",
    ]
    proc_dir = CHROOT / "proc"
    mounted = not os.path.ismount(proc_dir)
    if mounted:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)], check=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30)
    finally:
        if mounted:
            subprocess.run(["umount", str(proc_dir)], check=False)
    report_path = out / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return report, done.stdout + done.stderr, work


def host_path(inside: str) -> Path:
    """A path the driver reported (inside the chroot) as seen from here."""
    return CHROOT / inside.lstrip("/")
