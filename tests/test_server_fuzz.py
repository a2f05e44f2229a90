"""Fuzzing the real server over HTTP with hypothesis: random params, multipart layouts and
mutated images. Every request must get a 2xx or a documented 4xx JSON error within 5 s; never
a 500 or a hang, and the worker still runs jobs afterwards.

Examples per strategy: NST_FUZZ_EXAMPLES (default 200, what CI runs); bench/fuzz_server.py
runs the same tests with thousands.
"""

from __future__ import annotations

import io
import json
import os
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst.params import Params
from server.testing import ServerProcess

EXAMPLES = int(os.environ.get("NST_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the 5 s limit is the request's timeout below
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,  # no example files left in the checkout
)
# Every status the API documents (docs/api.md, "Errors"), for these endpoints.
DOCUMENTED = {200, 202, 400, 404, 405, 409, 410, 413, 429}
MAX_PIXELS = 65_536  # 256x256: an accepted random job stays small
COUNTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    args = ["--max-pixels", str(MAX_PIXELS), "--max-upload-mb", "2", "--queue-size", "4"]
    with ServerProcess(*args) as proc:
        yield proc
        print(f"\nfuzz examples per strategy: {dict(COUNTS)}")
        _assert_worker_alive(proc)
        assert "Traceback" not in proc.output(), proc.output()[-3000:]


def _image_bytes(fmt: str, mode: str = "RGB", size: tuple[int, int] = (12, 10)) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
SAMPLES = {fmt: _image_bytes(fmt) for fmt in FORMATS}
GOOD = SAMPLES["PNG"]
FAST = {"quality": "draft", "size": 32, "iterations": 1, "scales": 1}


def _post(server: ServerProcess, body: bytes, content_type: str) -> requests.Response:
    response = requests.post(
        server.api + "/jobs", data=body, headers={"Content-Type": content_type}, timeout=5
    )
    _check_answer(response)
    if response.status_code == 202:  # accepted: drop it, so the queue never fills up
        requests.delete(f"{server.api}/jobs/{response.json()['id']}", timeout=5)
    return response


def _check_answer(response: requests.Response) -> None:
    assert response.status_code in DOCUMENTED, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and len(error["message"]) > 10, error


def _multipart(parts: list[tuple[str, str | None, str | None, bytes]]) -> tuple[bytes, str]:
    """(name, filename, content type, data) parts -> (body, Content-Type header)."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, filename, ctype, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if ctype is not None:
            body += f"Content-Type: {ctype}\r\n".encode()
        body += b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _job(server: ServerProcess, content: bytes, params: str) -> requests.Response:
    body, ctype = _multipart(
        [
            ("content", "c.png", "image/png", content),
            ("style", "s.png", "image/png", GOOD),
            ("params", None, None, params.encode("utf-8", "surrogatepass")),
        ]
    )
    return _post(server, body, ctype)


def _assert_worker_alive(server: ServerProcess) -> None:
    assert requests.get(server.api + "/health", timeout=5).json()["status"] == "ok"
    files = {"content": GOOD, "style": GOOD}
    response = requests.post(
        server.api + "/stylize", files=files, data={"params": json.dumps(FAST)}, timeout=60
    )
    assert response.status_code == 200, response.text


# -- params -------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["draft", "normal", "reference", "full", "noise", "fp16", "cuda", "caffe"]),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
param_names = st.sampled_from(sorted(Params.__dataclass_fields__)) | st.text(max_size=12)
params_json = st.one_of(
    st.dictionaries(param_names, json_values, max_size=6).map(json.dumps),
    json_values.map(json.dumps),  # not an object
    st.text(max_size=40),  # not JSON at all
)


@FUZZ
@given(params=params_json)
def test_random_params(server: ServerProcess, params: str) -> None:
    COUNTS["params"] += 1
    _job(server, GOOD, params)


# -- multipart layouts ----------------------------------------------------------------------
part = st.tuples(
    st.sampled_from(["content", "style", "mask", "params", "other", ""]) | st.text(max_size=8),
    st.none() | st.sampled_from(["", "a.png", "ünï cødé.jpg", "../../etc/passwd"]),
    st.none() | st.sampled_from(["image/png", "text/plain", "application/json", "x/y", ""]),
    st.sampled_from([GOOD, SAMPLES["JPEG"], b"", b"not an image", json.dumps(FAST).encode()]),
)


@FUZZ
@given(parts=st.lists(part, max_size=7))
def test_random_multipart_layouts(server: ServerProcess, parts: list) -> None:
    COUNTS["multipart"] += 1
    body, ctype = _multipart(parts)
    _post(server, body, ctype)


# -- mutated images -------------------------------------------------------------------------
def _png_chunks(data: bytes) -> list[bytes]:
    chunks, at = [], 8
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        chunks.append(data[at : at + 12 + length])
        at += 12 + length
    return chunks


def _huge_size(fmt: str, data: bytes, width: int, height: int, fix_crc: bool) -> bytes:
    """The image with a declared size of width x height where the format keeps it."""
    b = bytearray(data)
    if fmt == "PNG":
        b[16:24] = struct.pack(">II", width, height)
        if fix_crc:
            b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    elif fmt == "BMP":
        b[18:26] = struct.pack("<II", width, height)
    elif fmt == "GIF":
        b[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    elif fmt == "JPEG":
        at = data.find(b"\xff\xc0")
        if at > 0:
            b[at + 5 : at + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
    elif fmt == "WEBP":
        at = data.find(b"\x9d\x01\x2a")  # VP8 key frame start code, then 14-bit sizes
        if at > 0:
            b[at + 3 : at + 7] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    elif fmt == "TIFF":
        b[-8:] = struct.pack("<II", width, height)  # lands in the IFD's values
    return bytes(b)


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(FORMATS))
    data = SAMPLES[fmt]
    kind = draw(st.sampled_from(["flip", "truncate", "reorder", "huge", "splice"]))
    if kind == "flip":
        b = bytearray(data)
        for at in draw(st.lists(st.integers(0, len(b) - 1), min_size=1, max_size=8)):
            b[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(b)
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "reorder" and fmt == "PNG":
        chunks = _png_chunks(data)
        return data[:8] + b"".join(draw(st.permutations(chunks)))
    if kind == "huge":
        side = st.sampled_from([0, 1, 2**14 - 1, 2**16 - 1, 2**31 - 1, 2**32 - 1])
        return _huge_size(fmt, data, draw(side), draw(side), draw(st.booleans()))
    at = draw(st.integers(0, len(data)))  # splice: another format's bytes inside
    return data[:at] + SAMPLES[draw(st.sampled_from(FORMATS))] + data[at:]


@FUZZ
@given(image=mutated_images())
def test_mutated_images(server: ServerProcess, image: bytes) -> None:
    COUNTS["images"] += 1
    _job(server, image, json.dumps(FAST))


def test_the_fuzzed_images_do_reach_the_decoders() -> None:
    """The samples are real images of every format (so mutations test the decoders)."""
    for fmt, data in SAMPLES.items():
        assert Image.open(io.BytesIO(data)).format == fmt
    huge = _huge_size("PNG", SAMPLES["PNG"], 4000, 3000, True)
    assert Image.open(io.BytesIO(huge)).size == (4000, 3000)
