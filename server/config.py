"""Settings of one server process, filled from `nst serve` flags."""

from __future__ import annotations

from dataclasses import dataclass

from nst.images import DEFAULT_MAX_PIXELS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
API_PREFIX = "/api/v1"


@dataclass
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    device: str = "auto"
    max_pixels: int = DEFAULT_MAX_PIXELS  # per uploaded image
    max_upload_mb: float = 100.0  # whole request body
    queue_size: int = 16  # jobs waiting, not counting the running one
    result_ttl: float = 600.0  # seconds a finished job (and its result) is kept
    max_results: int = 32  # finished jobs kept at most; the oldest go first
    threads: int = 16  # waitress request threads
    client_timeout: float = 30.0  # seconds a connection may sit idle before it is dropped
    request_timeout: float = 120.0  # seconds a request may take to arrive (headers and body)
    allow_origins: tuple[str, ...] = ()  # browser origins allowed in (CORS); none by default

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
