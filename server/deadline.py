"""A deadline for receiving each request, on top of waitress's idle timeout.

waitress drops a connection that sends nothing for `channel_timeout` seconds, but a client
that sends one byte now and then (a slowloris) is never idle, and each such connection holds
one of waitress's connection slots for ever. Here a request must arrive whole, headers and
body, within `request_timeout` seconds of its first byte, or its connection is closed. A
request that has arrived and is running (a long `POST /stylize`) is not affected.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel


class DeadlineChannel(HTTPChannel):
    """An HTTPChannel that notes when its current request began to arrive."""

    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_started = time.time()
        result = super().received(data)
        if self.request is None:  # every request in `data` arrived whole
            self.request_started = None
        return result


def install(server: Any, request_timeout: float) -> None:
    """Make a server made by `waitress.create_server` enforce the deadline."""
    # One listening socket gives one server; several (localhost on IPv4 and IPv6) give a
    # MultiSocketServer whose map holds them.
    servers = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for one in servers:
        _install_one(one, request_timeout)


def _install_one(server: Any, request_timeout: float) -> None:
    server.channel_class = DeadlineChannel
    idle_check = server.maintenance

    def maintenance(now: float) -> None:
        idle_check(now)
        cutoff = now - request_timeout
        for channel in list(server.active_channels.values()):
            started = getattr(channel, "request_started", None)
            if started is not None and started < cutoff:
                channel.will_close = True  # waitress closes it on its next loop

    server.maintenance = maintenance
