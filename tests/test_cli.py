"""The `nst` command: a real run, and one-line errors for every kind of bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

import nst
from nst.cli import main

FAST = ["--size", "48", "--iterations", "3", "--scales", "1", "--no-progress"]


@pytest.fixture()
def inputs(tmp_path, tiny_content, tiny_style):
    content, style = tmp_path / "photo.png", tmp_path / "painting.png"
    tiny_content.save(content)
    tiny_style.save(style)
    return content, style


def test_stylize_writes_an_image_of_the_content_size(inputs, tmp_path, capsys) -> None:
    content, style = inputs
    out = tmp_path / "out.png"
    assert main(["stylize", str(content), str(style), "-o", str(out), "--seed", "2", *FAST]) == 0
    assert Image.open(out).size == Image.open(content).size
    assert "saved" in capsys.readouterr().out


def test_progress_bar_shows_scale_step_loss_and_eta(inputs, tmp_path, capsys) -> None:
    content, style = inputs
    args = ["stylize", str(content), str(style), "-o", str(tmp_path / "o.png")]
    assert main([*args, "--size", "256", "--iterations", "2", "--scales", "2"]) == 0
    err = capsys.readouterr().err
    assert "scale 2/2" in err and "loss" in err and "ETA" in err


def test_version_and_info(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and nst.__version__ in capsys.readouterr().out
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "device" in out and "precision" in out and "caffe" in out and "torch" in out


def _bad_inputs(tmp_path, content, style):
    text = tmp_path / "notes.png"
    text.write_text("hello")
    cut = tmp_path / "cut.png"
    cut.write_bytes(content.read_bytes()[:200])
    big = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(big)
    c, s = str(content), str(style)
    return {
        "missing file": ([str(tmp_path / "nope.png"), s], "not found"),
        "not an image": ([str(text), s], "not an image"),
        "truncated image": ([str(cut), s], "damaged or truncated"),
        "unknown option": ([c, s, "--sharpness", "3"], "unrecognized arguments"),
        "out of range": ([c, s, "--size", "5"], "size: must be between 32 and 8192"),
        "bad choice": ([c, s, "--quality", "ultra"], "invalid choice"),
        "over pixel limit": ([str(big), s, "--max-pixels", "1000"], "too large"),
        "no style": ([c], "at least one style"),
    }


def test_bad_input_gives_one_line_error_and_nonzero_exit(inputs, tmp_path, capsys) -> None:
    content, style = inputs
    for case, (args, words) in _bad_inputs(tmp_path, content, style).items():
        try:
            code = main(["stylize", *FAST, "-o", str(tmp_path / "o.png"), *args])
        except SystemExit as exit_:  # argparse errors exit directly
            code = exit_.code
        err = capsys.readouterr().err
        assert code != 0, case
        assert words in err, (case, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (case, err)


def test_errors_from_a_real_process_have_no_traceback(inputs, tmp_path) -> None:
    content, style = inputs
    text = tmp_path / "notes.png"
    text.write_text("hello")
    run = subprocess.run(
        [sys.executable, "-m", "nst", "stylize", str(text), str(style), *FAST],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("nst: error:") and "Traceback" not in run.stderr
