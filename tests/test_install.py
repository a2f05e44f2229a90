"""install.py: Krita's folders on each OS (paths faked), install, reinstall, uninstall, dry run."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("nst_install", ROOT / "install.py")
install = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install)

EXISTING_KRITARC = """[General]
showRootLayer=false

[python]
enable_scripter=true
enable_nst_krita=false

[nst_krita]
server=http://127.0.0.1:9000
"""

# (system, env builder, expected resource folder, expected kritarc), relative to a fake home.
LAYOUTS = {
    "Linux": ({}, ".local/share/krita", ".config/kritarc"),
    "Darwin": ({}, "Library/Application Support/krita", "Library/Preferences/kritarc"),
    "Windows": (
        {"APPDATA": "{home}/AppData/Roaming", "LOCALAPPDATA": "{home}/AppData/Local"},
        "AppData/Roaming/krita",
        "AppData/Local/kritarc",
    ),
}


def run(home, system, *args, env=None):
    lines = []
    env = {k: v.format(home=home) for k, v in (env or {}).items()}
    code = install.main(
        list(args), system=system, env=env, home=home, say=lines.append, which=lambda name: None
    )
    assert code == 0
    return "\n".join(lines)


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("system", sorted(LAYOUTS))
def test_install_twice_then_uninstall(tmp_path, system):
    env, resource_rel, kritarc_rel = LAYOUTS[system]
    home = tmp_path / "home"
    resource, kritarc = home / resource_rel, home / kritarc_rel

    said = run(home, system, env=env)
    package = resource / "pykrita" / "nst_krita"
    assert (package / "__init__.py").is_file() and (package / "manual.html").is_file()
    assert (resource / "pykrita" / "nst_krita.desktop").is_file()
    assert (resource / "actions" / "nst_krita.action").is_file()
    assert kritarc.read_text() == "[python]\nenable_nst_krita=true\n"
    assert str(resource / "pykrita") in said and "Next: start Krita" in said
    assert "starts and stops the style server itself" in said
    # This test runs in the project's environment, where nst is installed: it is recorded.
    recorded = json.loads((package / "environment.json").read_text())
    assert recorded == {"python": sys.executable}
    assert f"Recorded the style server's Python {sys.executable}" in said
    assert not filecmp.dircmp(ROOT / "plugin_krita" / "nst_krita", package).diff_files

    first = (tree(resource), kritarc.read_text())
    said = run(home, system, env=env)  # idempotent
    assert (tree(resource), kritarc.read_text()) == first
    assert "Already enabled" in said

    said = run(home, system, "--uninstall", env=env)
    assert not (resource / "pykrita" / "nst_krita").exists()
    assert not (resource / "pykrita" / "nst_krita.desktop").exists()
    assert not (resource / "actions" / "nst_krita.action").exists()
    assert "enable_nst_krita" not in kritarc.read_text()
    assert "Removed" in said
    assert "Nothing to remove" in run(home, system, "--uninstall", env=env)


def test_existing_kritarc_keeps_everything_else(tmp_path):
    home = tmp_path
    kritarc = home / ".config" / "kritarc"
    kritarc.parent.mkdir(parents=True)
    kritarc.write_text(EXISTING_KRITARC)
    run(home, "Linux")
    text = kritarc.read_text()
    assert text == EXISTING_KRITARC.replace("enable_nst_krita=false", "enable_nst_krita=true")
    run(home, "Linux", "--uninstall")
    assert kritarc.read_text() == EXISTING_KRITARC.replace("enable_nst_krita=false\n", "")


def test_dry_run_changes_nothing(tmp_path):
    said = run(tmp_path, "Linux", "--dry-run")
    assert list(tmp_path.iterdir()) == []
    assert "Would copy nst_krita" in said and "Would enable" in said
    assert "Dry run: nothing was changed." in said
    run(tmp_path, "Linux")
    before = tree(tmp_path)
    said = run(tmp_path, "Linux", "--uninstall", "--dry-run")
    assert tree(tmp_path) == before and "Would remove" in said


def test_reinstall_replaces_stale_files_and_skips_caches(tmp_path):
    run(tmp_path, "Linux")
    package = tmp_path / ".local/share/krita/pykrita/nst_krita"
    (package / "old_module.py").write_text("stale")
    cache = ROOT / "plugin_krita" / "nst_krita" / "__pycache__"
    cache.mkdir(exist_ok=True)
    run(tmp_path, "Linux")
    assert not (package / "old_module.py").exists()
    assert not (package / "__pycache__").exists()


def test_linux_follows_xdg_folders_and_flatpak(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    [target] = install.standard_targets("Linux", env, tmp_path)
    assert target.pykrita == tmp_path / "data" / "krita" / "pykrita"
    assert target.kritarc == tmp_path / "cfg" / "kritarc"

    flatpak = tmp_path / ".var" / "app" / "org.kde.krita"
    flatpak.mkdir(parents=True)
    [target] = install.standard_targets("Linux", {}, tmp_path)  # only the Flatpak exists
    assert target.pykrita == flatpak / "data" / "krita" / "pykrita"
    assert target.kritarc == flatpak / "config" / "kritarc"
    (tmp_path / ".local" / "share" / "krita").mkdir(parents=True)
    both = install.standard_targets("Linux", {}, tmp_path)
    assert [t.label for t in both] == ["Krita", "Krita (Flatpak)"]
    said = run(tmp_path, "Linux")
    assert (flatpak / "data/krita/pykrita/nst_krita/__init__.py").is_file()
    assert (tmp_path / ".local/share/krita/pykrita/nst_krita/__init__.py").is_file()
    assert "Krita (Flatpak)" in said


def test_windows_without_appdata_variables_uses_the_home(tmp_path):
    [target] = install.standard_targets("Windows", {}, tmp_path)
    assert target.pykrita == tmp_path / "AppData" / "Roaming" / "krita" / "pykrita"
    assert target.kritarc == tmp_path / "AppData" / "Local" / "kritarc"


def test_krita_dir_option_accepts_the_pykrita_folder(tmp_path):
    portable = tmp_path / "krita-portable" / "share" / "krita"
    rc = tmp_path / "rc" / "kritarc"
    run(
        tmp_path / "home", "Windows", "--krita-dir", str(portable / "pykrita"), "--kritarc", str(rc)
    )
    assert (portable / "pykrita" / "nst_krita" / "__init__.py").is_file()
    assert (portable / "actions" / "nst_krita.action").is_file()
    assert rc.read_text() == "[python]\nenable_nst_krita=true\n"
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    "before, after",
    [
        ("", "[python]\nenable_nst_krita=true\n"),
        ("[General]\na=1", "[General]\na=1\n\n[python]\nenable_nst_krita=true\n"),
        (
            "[python]\nenable_nst_krita = false\nenable_nst_krita=true\n[x]\n",
            "[python]\nenable_nst_krita=true\n[x]\n",
        ),
        ("[python]\r\nenable_x=true\r\n", "[python]\r\nenable_nst_krita=true\r\nenable_x=true\r\n"),
    ],
)
def test_kritarc_edits(before, after):
    assert install.set_enabled(before, True) == after
    assert "enable_nst_krita" not in install.set_enabled(after, False)


@pytest.mark.skipif(sys.platform != "linux", reason="checks the Linux default folders")
def test_runs_as_a_script(tmp_path):
    process = subprocess.run(
        [sys.executable, str(ROOT / "install.py"), "--dry-run"],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    assert str(tmp_path / ".local/share/krita/pykrita") in process.stdout
    assert list(tmp_path.iterdir()) == []


def test_without_nst_here_it_finds_the_venv_beside_it_or_says_how(tmp_path, monkeypatch):
    here = tmp_path / "nst"
    (here / ".venv" / "bin").mkdir(parents=True)
    wrapper = here / ".venv" / "bin" / "python"  # stands for an environment with nst
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    python, why = install.find_python(None, here=here, current="/bin/false")
    assert python == here / ".venv" / "bin" / "python" and "beside install.py" in why
    python, why = install.find_python(None, here=tmp_path / "elsewhere", current="/bin/false")
    assert python is None and "--python PATH" in why

    # In a fresh home with no environment found: the plugin is installed, and the message
    # says how to point it at one; nothing is recorded.
    monkeypatch.setattr(install, "has_nst", lambda python: False)
    said = run(tmp_path / "home", "Linux")
    package = tmp_path / "home/.local/share/krita/pykrita/nst_krita"
    assert (package / "__init__.py").is_file() and not (package / "environment.json").exists()
    assert "Krita cannot start the style server yet" in said and "--python PATH" in said


def test_python_option_is_checked_and_recorded(tmp_path):
    lines = []
    code = install.main(
        ["--python", "/bin/false"], system="Linux", env={}, home=tmp_path, say=lines.append
    )
    assert code == 2 and "cannot run the style server" in lines[-1]
    assert not (tmp_path / ".local").exists()  # nothing installed on a bad --python
    said = run(tmp_path, "Linux", "--python", sys.executable)
    package = tmp_path / ".local/share/krita/pykrita/nst_krita"
    assert json.loads((package / "environment.json").read_text())["python"] == sys.executable
    assert "given with --python" in said
    run(tmp_path, "Linux", "--uninstall")
    assert not package.exists()


# -- GIMP 3 ---------------------------------------------------------------------------------
GIMP_LAYOUTS = {
    "Linux": ({}, ".config/GIMP/3.0"),
    "Darwin": ({}, "Library/Application Support/GIMP/3.0"),
    "Windows": ({"APPDATA": "{home}/AppData/Roaming"}, "AppData/Roaming/GIMP/3.0"),
}


@pytest.mark.parametrize("system", sorted(GIMP_LAYOUTS))
def test_gimp_plugin_goes_into_its_own_plug_ins_subfolder(tmp_path, system):
    env, folder_rel = GIMP_LAYOUTS[system]
    home = tmp_path / "home"
    folder = home / folder_rel
    plugin = folder / "plug-ins" / "nst_gimp"
    said = run(home, system, "--gimp", env=env)
    assert plugin.is_dir(), said
    executable = plugin / "nst_gimp.py"
    assert executable.stat().st_mode & 0o111, "GIMP runs only executable plug-ins"
    # The multipart encoding is the Krita plugin's, shared by copying, not by importing.
    shared = ROOT / "plugin_krita" / "nst_krita" / "multipart.py"
    assert filecmp.cmp(plugin / "nstgimp" / "multipart.py", shared, shallow=False)
    assert not (home / ".local/share/krita").exists(), "--gimp alone leaves Krita alone"
    assert not list(plugin.rglob("__pycache__"))
    run(home, system, "--gimp", env=env)  # again: replaced, not nested
    assert not (plugin / "nst_gimp").exists()
    said = run(home, system, "--gimp", "--uninstall", env=env)
    assert not plugin.exists() and "Removed" in said
    assert (folder / "plug-ins").is_dir(), "GIMP's own folder stays"


def test_default_installs_gimp_only_when_it_is_found(tmp_path):
    home = tmp_path / "home"
    run(home, "Linux")
    assert (home / ".local/share/krita/pykrita/nst_krita").is_dir()
    assert not (home / ".config/GIMP").exists(), "no GIMP here: nothing made for it"
    (home / ".config/GIMP/3.0").mkdir(parents=True)
    said = run(home, "Linux")
    assert (home / ".config/GIMP/3.0/plug-ins/nst_gimp/nst_gimp.py").is_file(), said
    assert "Krita" in said and "GIMP 3" in said


def test_gimp3_directory_and_flatpak_and_gimp_dir(tmp_path):
    home = tmp_path / "home"
    custom = tmp_path / "gimp-profile"
    run(home, "Linux", "--gimp", env={"GIMP3_DIRECTORY": str(custom)})
    assert (custom / "plug-ins/nst_gimp/nst_gimp.py").is_file()
    flatpak = home / ".var/app/org.gimp.GIMP/config/GIMP/3.0"
    flatpak.mkdir(parents=True)
    run(home, "Linux", "--gimp")
    assert (flatpak / "plug-ins/nst_gimp").is_dir()
    other = tmp_path / "other"
    said = run(home, "Linux", "--gimp-dir", str(other), "--dry-run")
    assert "Would copy" in said and not other.exists()
    run(home, "Linux", "--gimp-dir", str(other))
    assert (other / "plug-ins/nst_gimp/nstgimp/client.py").is_file()


def test_gimp_records_the_servers_python(tmp_path):
    home = tmp_path / "home"
    said = run(home, "Linux", "--gimp", "--python", sys.executable)
    recorded = home / ".config/GIMP/3.0/plug-ins/nst_gimp/environment.json"
    assert json.loads(recorded.read_text())["python"] == sys.executable, said
