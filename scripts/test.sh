#!/usr/bin/env bash
# Set up the virtual environment (once) and run lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The plugins are linted as Python 3.8 code (Krita's oldest embedded Python).
.venv/bin/ruff check plugin_krita --config plugin_krita/ruff.toml
.venv/bin/ruff format --check plugin_krita --config plugin_krita/ruff.toml
.venv/bin/ruff check plugin_gimp --config plugin_gimp/ruff.toml
.venv/bin/ruff format --check plugin_gimp --config plugin_gimp/ruff.toml
.venv/bin/python -m pytest -q "$@"
