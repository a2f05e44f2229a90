"""docs/api.md is the contract the plugin and the client follow: it must cover every params
key, every error code the server can send, and every route."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import nst
from server.app import api, create_app
from server.config import ServerConfig

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def test_every_params_key_is_documented_with_its_default() -> None:
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", DOC, re.M)}
    defaults = nst.Params().to_dict()
    for field in dataclasses.fields(nst.Params):
        assert field.name in rows, f"params key {field.name} is missing from docs/api.md"
        default = defaults[field.name]
        if isinstance(default, (int, float, str)) and not isinstance(default, bool):
            assert (
                repr(default).replace("'", '"') in rows[field.name]
                or str(default) in rows[field.name]
            ), f"default of {field.name} not in its row"


def test_presets_are_documented_as_they_are() -> None:
    quality = re.search(r"^\| `quality` \|.*$", DOC, re.M).group(0)
    for name, preset in nst.PRESETS.items():
        size = f"{preset['size']} px" if preset["size"] else "native size"
        described = f"{name} {size} / {preset['iterations']} / {preset['scales']}"
        assert described in quality, f"preset {name} is not documented as {preset}"
    example = re.search(r'`\{"draft": (\{[^}]*\})', DOC).group(1)
    assert example == json.dumps(nst.PRESETS["draft"])


def test_every_error_code_in_the_server_is_documented() -> None:
    sources = "".join(p.read_text() for p in (ROOT / "server").glob("*.py"))
    codes = set(re.findall(r'ApiError\(\s*\d{3},\s*"(\w+)"', sources))
    codes |= set(re.findall(r'"code": "(\w+)"', sources))
    codes |= set(re.findall(r'\.get\([^)]*, "(\w+)"\)', sources))  # fallback codes
    assert {"invalid_image", "queue_full", "not_found", "canceled"} <= codes  # the scan works
    for code in codes:
        assert f"`{code}`" in DOC, f"error code {code} is missing from docs/api.md"


def test_every_route_is_documented() -> None:
    app = create_app(
        ServerConfig(), info={"device": "cpu", "precision": "fp32", "weights": "caffe"}
    )
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(api.name + ".")]
    assert len(routes) >= 9
    for rule in routes:
        path = rule.rule.removeprefix("/api/v1").replace("<job_id>", "<id>")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert f"### `{method} {path}`" in DOC, f"{method} {path} is not documented"
