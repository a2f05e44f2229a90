"""Errors the plug-in shows to people: each says what happened and what to do about it."""

from __future__ import annotations

DEFAULT_URL = "http://127.0.0.1:8765"


class NSTError(Exception):
    """Base of every error the plug-in reports; `str(error)` is the message for the user."""


class ServerNotRunning(NSTError):
    def __init__(self, url: str) -> None:
        super().__init__(
            "Could not reach the style-transfer server at %s. Start it in a terminal with "
            "'nst serve' (or: python -m server) and try again, or leave Server empty so that "
            "the plug-in starts its own (install it with: python install.py --gimp)." % url
        )
        self.url = url


class ConnectionLost(NSTError):
    def __init__(self, url: str, detail: str = "") -> None:
        message = "The connection to the style-transfer server at %s was lost" % url
        if detail:
            message += " (%s)" % detail
        super().__init__(message + ". The server may have stopped; the image was not changed.")


class ServerError(NSTError):
    """An error the server reported; the message is shown as the server wrote it."""

    def __init__(self, message: str, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class Unauthorized(ServerError):
    pass


class JobFailed(ServerError):
    pass


class Canceled(NSTError):
    def __init__(self) -> None:
        super().__init__("Style transfer canceled; the image was not changed.")


class BadInput(NSTError):
    """Something about the image, the layer or the settings that the user can fix."""


class ServerFailed(NSTError):
    """The plug-in's own server could not start."""
