"""Errors the plugin shows to people: each says what happened and what to do about it."""

from __future__ import annotations

START_SERVER = "nst serve"


class NSTError(Exception):
    """Base of every error the plugin reports; `str(error)` is the message for the user."""

    title = "Neural Style Transfer"


class ServerNotRunning(NSTError):
    def __init__(self, url: str) -> None:
        super().__init__(
            "Could not reach the style-transfer server at %s.\n\n"
            "Start it in a terminal with:\n    %s\n"
            "(or: python -m server), then try again. If it runs elsewhere, change the server "
            "address in the dialog." % (url, server_command(url))
        )
        self.url = url


class ConnectionLost(NSTError):
    def __init__(self, url: str, detail: str = "") -> None:
        message = "The connection to the style-transfer server at %s was lost" % url
        if detail:
            message += " (%s)" % detail
        super().__init__(message + ". The server may have stopped; the image was not changed.")


class ServerTimeout(NSTError):
    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(
            "The style-transfer server at %s did not answer within %d s." % (url, seconds)
        )


class ServerError(NSTError):
    """An error the server reported; the message is shown exactly as the server wrote it."""

    def __init__(self, message: str, code: str = "", status: int = 0, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.field = field


class Unauthorized(ServerError):
    pass


class JobFailed(ServerError):
    pass


class Canceled(NSTError):
    def __init__(self) -> None:
        super().__init__("Style transfer canceled.")


class NoDocument(NSTError):
    pass


class UnsupportedLayer(NSTError):
    pass


class EmptyLayer(NSTError):
    pass


class TargetGone(NSTError):
    pass


class StyleError(NSTError):
    pass


def server_command(url: str) -> str:
    """The exact command that starts a server answering at `url` (host/port when not default)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "//" in url else "http://" + url)
    command = START_SERVER
    host = parts.hostname or "127.0.0.1"
    remote = host not in ("127.0.0.1", "localhost", "::1")
    if remote:  # run on that machine, listening on all interfaces, which requires a token
        command += " --host 0.0.0.0"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and port != 8765:
        command += " --port %d" % port
    if remote:
        command += " --token YOUR_TOKEN"
    return command
