"""Scripting entry point, for Krita's Scripter and for tests: the dialog's path, no UI.

from nst_krita.api import stylize_active_layer
layer = stylize_active_layer(["/path/to/style.jpg"], params={"quality": "draft"})
"""

from __future__ import annotations

from . import document, managed
from .client import ServerClient
from .errors import ConnectionLost, NSTError, ServerNotRunning
from .job import StyleJob
from .qt import QEventLoop, exec_
from .settings import KritaStore, Settings
from .styles import StyleRef


class Prepared:
    """Everything one run needs, read from Krita before anything is sent."""

    def __init__(self, source, styles, params, names):
        self.source = source
        self.styles = styles  # [(filename, bytes)]
        self.params = params
        self.names = names
        self.prefix = "Style"

    @property
    def layer_name(self) -> str:
        return document.layer_name(self.names, self.prefix)


def prepare(krita, styles, params):
    """Read the active layer and the styles; raises NSTError before any upload."""
    refs = [StyleRef.parse(item) for item in (styles or [])]
    if not refs:
        raise NSTError("Choose at least one style image.")
    doc, node = document.active_target(krita)
    source = document.read_source(doc, node)
    files = [ref.load(krita) for ref in refs]
    return Prepared(source, files, dict(params or {}), [ref.name for ref in refs])


def prepare_texture(krita, styles, settings):
    """What a texture run needs: where it goes (canvas or selection) and the styles."""
    refs = [StyleRef.parse(item) for item in (styles or [])]
    if not refs:
        raise NSTError("Choose at least one style image.")
    source = document.texture_target(krita)
    files = [ref.load(krita) for ref in refs]
    params = settings.to_texture_params(source.rect.width, source.rect.height)
    names = [ref.name for ref in refs]
    prepared = Prepared(source, files, params, names)
    prepared.prefix = "Texture"
    return prepared


def with_client(settings, callback, server=None, token=None):
    """Call `callback(client, error)` with a client of the server to use: the address given or
    set (external mode), or Krita's own server once it is ready (managed mode, the default;
    started here if needed). Never blocks."""
    if server is not None or settings.mode == "external":
        url = server or settings.server
        callback(ServerClient(url, settings.token if token is None else token), None)
        return
    own = managed.instance(settings.python or None)

    def ready(error):
        if error is not None:
            callback(None, error)
        else:
            callback(ServerClient(own.url, own.token), None)

    own.ensure(ready)


def explain_lost_server(error, settings, server=None):
    """In managed mode a lost connection means Krita's own server stopped: say so."""
    if server is not None or settings.mode != "managed":
        return error
    if not isinstance(error, (ConnectionLost, ServerNotRunning)):
        return error
    own = managed.instance()
    return managed.ServerFailed(
        "The style server stopped during the job (%s). The image was not changed. Run the "
        "filter again to restart it; its log is %s."
        % (managed.last_line(own.log_tail()), own.log_path or "not written")
    )


def start_job(client, prepared, want_preview=True, parent=None) -> StyleJob:
    source = prepared.source
    job = StyleJob(
        client,
        lambda: source.content_png,  # encoded on a worker thread
        prepared.styles,
        prepared.params,
        # A texture's selection is applied here, when the layer is made; the server gets a size.
        (lambda: source.mask_png) if source.mask is not None and source.image is not None else None,
        want_preview,
        parent,
    )
    job.start()
    return job


def stylize_active_layer(styles, params=None, server=None, token=None):
    """Stylise the active layer of the active document and return the new layer (a Node).

    `styles`: image file paths and/or open Krita Documents. `params`: the server's
    parameters (e.g. {"quality": "draft", "style_weight": 2.0, "seed": 1}); None uses the
    dialog's saved settings. `server`/`token`: a server to use; by default the dialog's
    setting, which is Krita's own server (started here if it is not running yet).
    Raises an NSTError subclass with a message for people; the document is then unchanged.
    Runs a local event loop while waiting, so Krita stays responsive.
    """
    from krita import Krita

    krita = Krita.instance()
    settings = Settings.load(KritaStore(krita))
    if params is None:
        params = settings.to_params()
    prepared = prepare(krita, styles, params)
    client = wait_for_client(settings, server, token)
    try:
        png = wait_for(start_job(client, prepared, want_preview=False))
    except NSTError as error:
        raise explain_lost_server(error, settings, server) from None
    return document.insert_result(krita, prepared.source, png, prepared.layer_name)


def wait_for_client(settings, server=None, token=None):
    """`with_client`, waiting (with a local event loop, so Krita stays responsive)."""
    loop = QEventLoop()
    outcome = {}

    def done(client, error):
        outcome["value"] = (client, error)
        loop.quit()

    with_client(settings, done, server, token)
    if "value" not in outcome:
        exec_(loop)
    client, error = outcome["value"]
    if error is not None:
        raise error
    return client


def wait_for(job) -> bytes:
    """Block (with a local event loop) until the job ends; the result PNG or the error."""
    loop = QEventLoop()
    outcome = {}

    def done(value):
        outcome["value"] = value
        loop.quit()

    job.succeeded.connect(done)
    job.failed.connect(done)
    if not job.finished:
        exec_(loop)
    value = outcome.get("value")
    if isinstance(value, Exception):
        raise value
    return value
