#!/usr/bin/env python3
"""Install the Neural Style Transfer plugins into Krita and GIMP 3 (Linux, Flatpak, Windows,
macOS).

    python install.py               # Krita, and GIMP 3 when its folder is found
    python install.py --krita       # only Krita;  --gimp: only GIMP 3
    python install.py --dry-run     # say what would be done, change nothing
    python install.py --uninstall
    python install.py --krita-dir DIR [--kritarc FILE]   # another resource folder
    python install.py --gimp-dir DIR   # another GIMP folder (the one holding plug-ins/)
    python install.py --python PATH # the Python of the environment where nst is installed

Copies plugin_krita/ into Krita's `pykrita` folder (and the shortcut file into `actions`)
and enables the plugin in kritarc (`enable_nst_krita=true` under `[python]`). It also records
which Python runs the style server, so Krita can start it itself: the Python running this
script if nst is installed in its environment (`.venv/bin/python install.py`), else a
`.venv` beside this file, else the one given with --python. Running it again replaces the
plugin's files with these and changes nothing else. Standard library only.

GIMP: copies plugin_gimp/nst_gimp/ into GIMP's `plug-ins` folder (its own subfolder, named
as its executable file) with the Krita plugin's multipart module, and records the Python.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NAME = "nst_krita"
SOURCE = Path(__file__).resolve().parent / "plugin_krita"
SECTION = "[python]"
ENABLE_KEY = "enable_" + NAME
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "environment.json")
ENVIRONMENT_FILE = "environment.json"  # read by plugin_krita/nst_krita/managed.py
DISTRIBUTION = "nst-krita"  # pyproject's project name


class Target:
    """One Krita installation: its resource folder (holding pykrita/) and its kritarc."""

    def __init__(self, resource_dir, kritarc, label):
        self.resource_dir = Path(resource_dir)
        self.kritarc = Path(kritarc) if kritarc else None
        self.label = label

    @property
    def pykrita(self):
        return self.resource_dir / "pykrita"

    def plugin_paths(self):
        """Every path the plugin owns in this installation."""
        return [
            self.pykrita / NAME,
            self.pykrita / (NAME + ".desktop"),
            self.resource_dir / "actions" / (NAME + ".action"),
        ]

    def __repr__(self):
        return f"Target({str(self.resource_dir)!r}, {str(self.kritarc)!r}, {self.label!r})"


def standard_targets(system=None, env=None, home=None):
    """Krita's folders for this user on this OS; Linux: also the Flatpak's, when present."""
    system = system or platform.system()
    env = os.environ if env is None else env
    home = Path(home or env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if system == "Windows":
        appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        local = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return [Target(appdata / "krita", local / "kritarc", "Krita")]
    if system == "Darwin":
        library = home / "Library"
        return [
            Target(
                library / "Application Support" / "krita",
                library / "Preferences" / "kritarc",
                "Krita",
            )
        ]
    data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    native = Target(data / "krita", config / "kritarc", "Krita")
    flatpak_root = home / ".var" / "app" / "org.kde.krita"
    if not flatpak_root.is_dir():
        return [native]
    flatpak = Target(
        flatpak_root / "data" / "krita", flatpak_root / "config" / "kritarc", "Krita (Flatpak)"
    )
    return [native, flatpak] if native.resource_dir.is_dir() else [flatpak]


def custom_target(krita_dir, kritarc=None, system=None, env=None, home=None):
    """--krita-dir: a resource folder (or its pykrita folder); kritarc defaults to the OS's."""
    resource = Path(krita_dir).expanduser()
    if resource.name == "pykrita":
        resource = resource.parent
    if kritarc is None:
        kritarc = standard_targets(system, env, home)[0].kritarc
    return Target(resource, kritarc, f"Krita ({resource})")


# -- GIMP 3 -----------------------------------------------------------------------------
GIMP_NAME = "nst_gimp"
GIMP_SOURCE = SOURCE.parent / "plugin_gimp" / GIMP_NAME
SHARED_MODULES = [SOURCE / NAME / "multipart.py"]  # the one copy lives in the Krita plugin


class GimpTarget:
    """One GIMP 3 folder (GIMP3_DIRECTORY: the one holding plug-ins/)."""

    def __init__(self, folder, label="GIMP 3"):
        self.folder = Path(folder)
        self.label = label

    @property
    def plugin_dir(self):
        return self.folder / "plug-ins" / GIMP_NAME

    def __repr__(self):
        return f"GimpTarget({str(self.folder)!r}, {self.label!r})"


def gimp_targets(system=None, env=None, home=None):
    """GIMP 3's folders for this user: $GIMP3_DIRECTORY, else the OS's (and the Flatpak's)."""
    system = system or platform.system()
    env = os.environ if env is None else env
    home = Path(home or env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if env.get("GIMP3_DIRECTORY"):
        return [GimpTarget(env["GIMP3_DIRECTORY"])]
    if system == "Windows":
        appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
        return [GimpTarget(appdata / "GIMP" / "3.0")]
    if system == "Darwin":
        return [GimpTarget(home / "Library" / "Application Support" / "GIMP" / "3.0")]
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    native = GimpTarget(config / "GIMP" / "3.0")
    flatpak = GimpTarget(
        home / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0", "GIMP 3 (Flatpak)"
    )
    found = [t for t in (native, flatpak) if t.folder.is_dir()]
    return found or [native]


def gimp_found(targets, which=shutil.which):
    """Whether GIMP 3 seems to be here: its folder exists, or it is on the PATH."""
    return any(t.folder.is_dir() for t in targets) or any(
        which(name) for name in ("gimp-3.0", "gimp-3", "gimp-console-3.0")
    )


def install_gimp(target, dry_run=False, source=GIMP_SOURCE, say=print):
    if not (source / (GIMP_NAME + ".py")).is_file():
        raise SystemExit(f"The GIMP plug-in's files are missing: {source}")
    dst = target.plugin_dir
    if not dry_run:
        dst.parent.mkdir(parents=True, exist_ok=True)
        _remove(dst)
        shutil.copytree(source, dst, ignore=SKIP)
        for module in SHARED_MODULES:
            shutil.copy2(module, dst / "nstgimp" / module.name)
        executable = dst / (GIMP_NAME + ".py")
        executable.chmod(executable.stat().st_mode | 0o111)  # GIMP runs only executable files
    say(f"{'Would copy' if dry_run else 'Copied'} {source.name} -> {dst}")


def uninstall_gimp(target, dry_run=False, say=print):
    if target.plugin_dir.exists():
        if not dry_run:
            _remove(target.plugin_dir)
        say("{} {}".format("Would remove" if dry_run else "Removed", target.plugin_dir))
    else:
        say(f"Nothing to remove in {target.folder}")


# -- kritarc -----------------------------------------------------------------------------
def set_enabled(text, enabled):
    """kritarc text with `enable_nst_krita=true` in [python] (enabled) or without it.

    Edits lines in place, so the rest of Krita's settings stay exactly as they were.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is not None:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")),
            len(lines),
        )
        found = [
            i for i in range(start + 1, end) if lines[i].split("=", 1)[0].strip() == ENABLE_KEY
        ]
        for i in reversed(found[1:] if enabled else found):
            del lines[i]
        if enabled and found:
            lines[found[0]] = ENABLE_KEY + "=true"
        elif enabled:
            lines.insert(start + 1, ENABLE_KEY + "=true")
    elif enabled:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [SECTION, ENABLE_KEY + "=true"]
    return newline.join(lines) + (newline if lines else "")


# -- the server's Python -------------------------------------------------------------------
def has_nst(python):
    """Whether `python` runs and has nst installed (pip's record of it: quick, no torch)."""
    check = f"import importlib.metadata as m; m.distribution({DISTRIBUTION!r})"
    try:
        done = subprocess.run(
            [str(python), "-c", check],
            cwd=tempfile.gettempdir(),  # not this folder, whose nst/ would import anyway
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def venv_python(folder):
    for relative in ("bin/python", "Scripts/python.exe"):
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def find_python(given=None, here=SOURCE.parent, current=sys.executable):
    """(python, why) for the style server, or (None, what to do)."""
    if given:
        path = Path(given).expanduser()
        if not has_nst(path):
            return None, (
                f"{path} cannot run the style server (it is missing, or nst is not installed "
                f"in its environment: `{path} -m pip install -e {here}`)"
            )
        return Path(os.path.abspath(path)), "given with --python"
    if current and has_nst(current):
        return Path(current), "the Python running install.py"
    local = venv_python(here / ".venv")
    if local is not None and has_nst(local):
        return local, "the .venv beside install.py"
    return None, (
        "no Python with nst installed was found: run install.py with that environment's "
        "Python (e.g. `.venv/bin/python install.py` after the README's first command), or "
        "pass --python PATH"
    )


def record_python(target, python, dry_run=False, say=print):
    folder = target.plugin_dir if isinstance(target, GimpTarget) else target.pykrita / NAME
    path = folder / ENVIRONMENT_FILE
    if not dry_run:
        path.write_text(json.dumps({"python": str(python)}, indent=1) + "\n", encoding="utf-8")
    say(f"{'Would record' if dry_run else 'Recorded'} the style server's Python {python} in {path}")


# -- install / uninstall -------------------------------------------------------------------
def install(target, dry_run=False, source=SOURCE, say=print):
    if not (source / NAME / "__init__.py").is_file():
        raise SystemExit("The plugin's files are missing: %s" % (source / NAME))
    verb = "Would copy" if dry_run else "Copied"
    package, desktop, action = target.plugin_paths()
    copies = [
        (source / NAME, package),
        (source / (NAME + ".desktop"), desktop),
        (source / (NAME + ".action"), action),
    ]
    for src, dst in copies:
        if not dry_run:
            dst.parent.mkdir(parents=True, exist_ok=True)
            _remove(dst)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=SKIP)
            else:
                shutil.copy2(src, dst)
        say(f"{verb} {src.name} -> {dst}")
    _edit_kritarc(target, True, dry_run, say)


def uninstall(target, dry_run=False, say=print):
    removed = False
    for path in target.plugin_paths():
        if path.exists() or path.is_symlink():
            removed = True
            if not dry_run:
                _remove(path)
            say("{} {}".format("Would remove" if dry_run else "Removed", path))
    if not removed:
        say(f"Nothing to remove in {target.resource_dir}")
    _edit_kritarc(target, False, dry_run, say)


def _edit_kritarc(target, enabled, dry_run, say):
    if target.kritarc is None:
        return
    text = target.kritarc.read_text(encoding="utf-8") if target.kritarc.is_file() else ""
    new = set_enabled(text, enabled)
    if new == text:
        if enabled:
            say(f"Already enabled in {target.kritarc}")
        else:
            say(f"No {ENABLE_KEY} entry in {target.kritarc}")
        return
    if not dry_run:
        target.kritarc.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.kritarc.with_name(target.kritarc.name + ".nst-tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(str(tmp), str(target.kritarc))  # never leave a half-written kritarc
    if enabled:
        verb = "Would enable" if dry_run else "Enabled"
        say(f"{verb} the plugin in {target.kritarc} ({ENABLE_KEY}=true under {SECTION})")
    else:
        verb = "Would remove" if dry_run else "Removed"
        say(f"{verb} {ENABLE_KEY} from {target.kritarc}")


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def main(argv=None, system=None, env=None, home=None, say=print, which=shutil.which):
    parser = argparse.ArgumentParser(
        description="Install the Neural Style Transfer plugins into Krita and GIMP 3."
    )
    parser.add_argument("--krita", action="store_true", help="install into Krita")
    parser.add_argument(
        "--gimp", action="store_true", help="install into GIMP 3 (default: both, GIMP if found)"
    )
    parser.add_argument(
        "--krita-dir",
        help="Krita's resource folder (the one holding "
        "pykrita/); default: the standard one of this OS",
    )
    parser.add_argument(
        "--kritarc",
        help="Krita's settings file to enable the plugin in; default: the standard one of this OS",
    )
    parser.add_argument(
        "--gimp-dir",
        help="GIMP 3's folder (the one holding plug-ins/); default: $GIMP3_DIRECTORY or the "
        "standard one of this OS",
    )
    parser.add_argument(
        "--python",
        help="the Python of the environment where nst is installed (default: this one, "
        "else .venv beside install.py)",
    )
    parser.add_argument("--uninstall", action="store_true", help="remove the plugins")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be done")
    args = parser.parse_args(argv)
    if args.krita_dir:
        targets = [custom_target(args.krita_dir, args.kritarc, system, env, home)]
    else:
        targets = standard_targets(system, env, home)
        if args.kritarc:
            for target in targets:
                target.kritarc = Path(args.kritarc)
    gimps = (
        [GimpTarget(Path(args.gimp_dir).expanduser())]
        if args.gimp_dir
        else gimp_targets(system, env, home)
    )
    chosen = args.krita or args.gimp or args.krita_dir or args.gimp_dir
    use_krita = args.krita or bool(args.krita_dir) or not chosen
    use_gimp = args.gimp or bool(args.gimp_dir) or (not chosen and gimp_found(gimps, which))
    python, why = (None, "") if args.uninstall else find_python(args.python)
    if args.python and python is None:
        say(f"install.py: {why}")
        return 2
    for target in targets if use_krita else []:
        say(f"{target.label}: {target.pykrita}")
        if args.uninstall:
            uninstall(target, args.dry_run, say)
        else:
            install(target, args.dry_run, say=say)
            if python is not None:
                record_python(target, python, args.dry_run, say)
    for target in gimps if use_gimp else []:
        say(f"{target.label}: {target.folder / 'plug-ins'}")
        if args.uninstall:
            uninstall_gimp(target, args.dry_run, say)
        else:
            install_gimp(target, args.dry_run, say=say)
            if python is not None:
                record_python(target, python, args.dry_run, say)
    editors = " and ".join(
        name for name, used in (("Krita", use_krita), ("GIMP", use_gimp)) if used
    )
    if args.dry_run:
        say("Dry run: nothing was changed.")
    elif args.uninstall:
        say(f"Done. Restart {editors} to unload the plugin.")
    elif python is not None:
        say(
            f"Done ({why} runs the style server). Next: start {editors} (if Krita is running, "
            "quit it first: it rewrites kritarc when it quits) and use Filter > Neural Style "
            "Transfer... (GIMP: Filters > Artistic > Neural Style Transfer...); the plugin "
            "starts and stops the style server itself."
        )
    else:
        say(
            f"Done, but {editors} cannot start the style server yet: "
            + why
            + ". Until then, start it in a terminal with  nst serve  and choose 'A server at "
            "an address' in the Krita dialog (GIMP: enter http://127.0.0.1:8765 as Server)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
