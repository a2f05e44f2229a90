"""multipart/form-data bodies, built by hand so they need neither requests nor QHttpMultiPart."""

from __future__ import annotations

import uuid


def encode(fields, files):
    """Return (body, content_type).

    `fields`: list of (name, text); `files`: list of (name, filename, content_type, bytes).
    A name may repeat (several `style` files).
    """
    boundary = "nst-krita-" + uuid.uuid4().hex
    chunks = []
    for name, value in fields:
        chunks.append(
            (
                '--%s\r\nContent-Disposition: form-data; name="%s"\r\n'
                "Content-Type: text/plain; charset=utf-8\r\n\r\n" % (boundary, _quote(name))
            ).encode("utf-8")
        )
        chunks.append(value.encode("utf-8") + b"\r\n")
    for name, filename, content_type, data in files:
        chunks.append(
            (
                '--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                "Content-Type: %s\r\n\r\n"
                % (boundary, _quote(name), _quote(filename), content_type)
            ).encode("utf-8")
        )
        chunks.append(bytes(data) + b"\r\n")
    chunks.append(("--%s--\r\n" % boundary).encode("ascii"))
    return b"".join(chunks), "multipart/form-data; boundary=" + boundary


def _quote(text: str) -> str:
    # Quotes and line breaks would end the header early; file names are ours to choose anyway.
    return text.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
