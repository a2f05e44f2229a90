"""The Flask application (factory pattern): routes of API v1 on top of a JobManager.

Request handlers stay thin: they check auth and inputs, hand jobs to the manager and read
its state. All errors leave as JSON {"error": {"code", "message"}} (see server.errors).
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Request, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

import nst
from nst.device import pick_device, pick_precision
from nst.estimate import seconds as estimate_seconds
from nst.params import PRESETS, Params
from server import uploads
from server.config import API_PREFIX, ServerConfig
from server.errors import JOB_ERROR_STATUS, ApiError
from server.fastpath import StatusFastPath
from server.guard import BrowserGuard
from server.jobs import CANCELED, FINISHED, SUCCEEDED, Job, JobManager, QueueFull

log = logging.getLogger("server.app")
SSE_INTERVAL = 0.25  # seconds between checks for a change of the job's status
SSE_KEEPALIVE = 15.0


class InMemoryRequest(Request):
    """Uploads stay in memory (bounded by MAX_CONTENT_LENGTH), never in temporary files."""

    def _get_file_stream(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO()


def create_app(
    config: ServerConfig | None = None,
    manager: JobManager | None = None,
    info: dict[str, str] | None = None,
) -> Flask:
    """Build the app. `manager` runs the jobs (the caller starts it; without one, a new one
    is made and started); `info` holds the device, precision and weights names for /info."""
    config = config or ServerConfig()
    if manager is None:
        manager = JobManager.from_config(config)
        manager.start()
    if info is None:
        device = pick_device(config.device)
        info = {
            "device": str(device),
            "precision": _dtype_name(pick_precision("auto", device)),
            "weights": "caffe",
        }
    app = Flask("server")
    app.request_class = InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["nst"] = {"config": config, "manager": manager, "info": info}
    app.register_blueprint(api, url_prefix=API_PREFIX)
    _register_error_handlers(app)
    # Status polls skip Flask's machinery: half the CPU per poll, left to the running job.
    fast = StatusFastPath(app.wsgi_app, manager, config.token)
    # Outermost: what a web page must not do is refused before either path (server/guard.py).
    app.wsgi_app = BrowserGuard(fast, config.host, config.allow_origins)  # type: ignore[method-assign]
    return app


def _dtype_name(dtype: Any) -> str:
    return {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(
        str(dtype), str(dtype)
    )


def _state() -> tuple[ServerConfig, JobManager, dict[str, str]]:
    ext = current_app.extensions["nst"]
    return ext["config"], ext["manager"], ext["info"]


api = Blueprint("api", __name__)


@api.before_request
def _guard() -> None:
    # Host and Origin are checked before Flask, by server.guard.BrowserGuard.
    config, _, _ = _state()
    if config.token is None or request.endpoint == "api.health":
        return
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {config.token}"
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        what = "a wrong token was given" if given else "no token was given"
        raise ApiError(
            401,
            "unauthorized",
            f"this server requires a token and {what}: send the header "
            "'Authorization: Bearer <token>' (the token `nst serve` was started with)",
            headers={"WWW-Authenticate": "Bearer"},
        )


@api.get("/health")
def health() -> Response:
    return jsonify({"status": "ok", "version": nst.__version__})


@api.get("/info")
def info() -> Response:
    config, manager, names = _state()
    queue = manager.queue_info()
    return jsonify(
        {
            "version": nst.__version__,
            **names,
            "max_pixels": config.max_pixels,
            "max_upload_mb": config.max_upload_mb,
            "queue": {"length": queue["length"], "max": queue["max"]},
            "running": queue["running"],
            "result_ttl": config.result_ttl,
            "presets": PRESETS,
            "defaults": Params().to_dict(),
            "auth": config.token is not None,
        }
    )


@api.get("/estimate")
def estimate_time() -> Response:
    """About how long a job on a content of this size would take on this server."""
    config, _, _ = _state()
    sizes = {}
    for name in ("width", "height"):
        raw = request.args.get(name, "")
        if not raw.isdigit() or int(raw) < 1:
            raise ApiError(
                400, "invalid_params", f"{name}: give the content's {name} in pixels", field=name
            )
        sizes[name] = int(raw)
    width, height = sizes["width"], sizes["height"]
    if width * height > config.max_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"{width}x{height} = {width * height / 1e6:.1f} megapixels; this server accepts at "
            f"most {config.max_pixels / 1e6:.1f} megapixels per image (see --max-pixels)",
        )
    device = pick_device(config.device)
    params = uploads.parse_params(request.args.get("params"), device, styles=None)
    return jsonify({"width": width, "height": height, **estimate_seconds(params, width, height)})


@api.post("/jobs")
def create_job() -> tuple[Response, int, dict[str, str]]:
    job = _job_from_request()
    _, manager, _ = _state()
    position = _submit(manager, job)
    location = f"{API_PREFIX}/jobs/{job.id}"
    body = {
        "id": job.id,
        "state": "queued",
        "queue_position": position,
        "width": job.width,
        "height": job.height,
        "url": location,
    }
    return jsonify(body), 202, {"Location": location}


@api.post("/stylize")
def stylize_sync() -> Response:
    job = _job_from_request()
    _, manager, _ = _state()
    _submit(manager, job)
    job.done.wait()  # the job runs in the worker; a client that leaves does not stop it
    if job.state != SUCCEEDED:
        raise _job_error(job)
    return Response(job.result_png, mimetype="image/png", headers={"X-Job-Id": job.id})


@api.get("/jobs/<job_id>")
def job_status(job_id: str) -> Response:
    _, manager, _ = _state()
    return jsonify(manager.status(_find(job_id)))


@api.get("/jobs/<job_id>/result")
def job_result(job_id: str) -> Response:
    job = _find(job_id)
    if job.state not in FINISHED:
        raise ApiError(
            409,
            "not_ready",
            f"the job is {job.state}; poll "
            f"{API_PREFIX}/jobs/{job.id} until its state is 'succeeded'",
        )
    if job.state != SUCCEEDED or job.result_png is None:
        raise _job_error(job, failed_status=409)
    return Response(job.result_png, mimetype="image/png")


@api.get("/jobs/<job_id>/preview")
def job_preview(job_id: str) -> Response:
    png = _find(job_id).preview_png()
    if png is None:
        raise ApiError(404, "no_preview", "no preview yet: the job has not done its first step")
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})


@api.get("/jobs/<job_id>/events")
def job_events(job_id: str) -> Response:
    job = _find(job_id)
    _, manager, _ = _state()

    def stream() -> Iterator[str]:
        last, sent_at = None, time.monotonic()
        while True:
            status = manager.status(job)
            if status != last:
                last, sent_at = status, time.monotonic()
                yield f"event: status\ndata: {json.dumps(status)}\n\n"
            elif time.monotonic() - sent_at > SSE_KEEPALIVE:
                sent_at = time.monotonic()
                yield ": keep-alive\n\n"
            if status["state"] in FINISHED:
                return
            job.done.wait(SSE_INTERVAL)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return Response(stream(), mimetype="text/event-stream", headers=headers)


@api.delete("/jobs/<job_id>")
def job_delete(job_id: str) -> Response:
    _, manager, _ = _state()
    job = _find(job_id)
    if job.state in FINISHED:
        manager.discard(job)
        return jsonify({"id": job.id, "state": job.state, "discarded": True})
    state = manager.cancel(job)
    return jsonify({"id": job.id, "state": state, "discarded": False})


# -- helpers --------------------------------------------------------------------------------
def _job_from_request() -> Job:
    config, manager, _ = _state()
    try:
        manager.check_room()
    except QueueFull as full:
        raise _queue_full(manager, full) from None
    files = request.files  # parses the body; too large -> RequestEntityTooLarge (413)
    content = files.get("content")
    if content is None and not _wants_texture():
        raise ApiError(
            400,
            "missing_file",
            "the 'content' file is missing: send the image to "
            "stylise as the multipart part 'content'",
            field="content",
        )
    style_parts = files.getlist("style")
    if not style_parts:
        raise ApiError(
            400,
            "missing_file",
            "no 'style' file was sent: send at least one style "
            "image as a multipart part 'style' (repeat it for several)",
            field="style",
        )
    raw = request.form.get("params")
    if raw is None and "params" in files:  # curl -F params=@file.json sends it as a file
        raw = files["params"].stream.read().decode("utf-8", "replace")
    params = uploads.parse_params(raw, pick_device(config.device), len(style_parts))
    limit = config.max_pixels
    if params.texture or content is None:
        return _texture_job(params, files, style_parts, content, limit)
    image = uploads.check_image(content, "content image", limit)
    styles = [
        uploads.check_image(part, f"style image {i + 1}", limit)
        for i, part in enumerate(style_parts)
    ]
    mask = None
    if "mask" in files:
        mask = uploads.check_image(files["mask"], "mask", limit)
        if mask.size != image.size:
            raise ApiError(
                400,
                "invalid_image",
                f"the mask is {mask.size[0]}x{mask.size[1]} but the content image is "
                f"{image.size[0]}x{image.size[1]}; they must be the same size",
                field="mask",
            )
    _check_working_size(params, image.size, limit)
    return Job(content=image, styles=styles, params=params, mask=mask)


def _wants_texture() -> bool:
    """Whether the form's params ask for a texture (then no content part is needed)."""
    try:
        return bool(json.loads(request.form.get("params") or "{}").get("texture"))
    except (ValueError, AttributeError):
        return False  # bad params are reported with the missing content first


def _texture_job(params: Params, files: Any, style_parts: list, content: Any, limit: int) -> Job:
    if content is not None or "mask" in files or not params.texture:
        raise ApiError(
            400,
            "invalid_params",
            "texture: a texture job has styles and a size (params texture: [width, height]) "
            "but no content or mask part; send one or the other",
            field="texture",
        )
    width, height = params.texture
    if width * height > limit:
        raise ApiError(
            413,
            "too_many_pixels",
            f"texture: {width}x{height} = {width * height / 1e6:.1f} megapixels; this server "
            f"works on at most {limit / 1e6:.1f} megapixels (see --max-pixels)",
            field="texture",
        )
    styles = [
        uploads.check_image(part, f"style image {i + 1}", limit)
        for i, part in enumerate(style_parts)
    ]
    return Job(content=None, styles=styles, params=params)


def _check_working_size(params: Params, size: tuple[int, int], limit: int) -> None:
    """An explicit `size` may upscale: the image worked on must fit --max-pixels too."""
    long_edge = max(size)
    work = params.working_size_for(long_edge)
    w, h = (max(1, round(side * work / long_edge)) for side in size)
    if w * h > limit:
        raise ApiError(
            413,
            "too_many_pixels",
            f"size: working at {work} px makes the image {w}x{h} = {w * h / 1e6:.1f} megapixels; "
            f"this server works on at most {limit / 1e6:.1f} megapixels (see --max-pixels): "
            "ask for a smaller size",
            field="size",
        )


def _submit(manager: JobManager, job: Job) -> int:
    try:
        position = manager.submit(job)
    except QueueFull as full:
        raise _queue_full(manager, full) from None
    log.info(
        "job %s queued at position %d (%dx%d, %d style(s))",
        job.id,
        position,
        job.width,
        job.height,
        len(job.styles),
    )
    return position


def _queue_full(manager: JobManager, full: QueueFull) -> ApiError:
    return ApiError(
        429,
        "queue_full",
        f"the queue is full ({manager.queue_size} jobs waiting); try again in {full.retry_after} s",
        headers={"Retry-After": str(full.retry_after)},
    )


def _find(job_id: str) -> Job:
    _, manager, _ = _state()
    job = manager.get(job_id)
    if job is None:
        raise ApiError(
            404,
            "not_found",
            f"no job with id {job_id!r}: it never existed, was discarded, or its result expired",
        )
    return job


def _job_error(job: Job, failed_status: int | None = None) -> ApiError:
    """The error of a failed or canceled job, as an answer: 410 when canceled; when failed,
    `failed_status` (409 for /result) or a status fitting the error (for /stylize)."""
    error = job.error or {"code": "job_failed", "message": "the job failed"}
    if job.state == CANCELED:
        return ApiError(410, error["code"], f"the job was canceled: {error['message']}")
    status = failed_status or JOB_ERROR_STATUS.get(error["code"], 500)
    return ApiError(status, error["code"], f"the job failed: {error['message']}")


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return exc.response()

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        config = app.extensions["nst"]["config"]
        return ApiError(
            413,
            "upload_too_large",
            f"the upload is larger than this server's limit of "
            f"{config.max_upload_mb:g} MB (see --max-upload-mb)",
        ).response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.code or 500, "bad_request")
        message = exc.description or exc.name
        if exc.code == 404:
            message = f"no such endpoint: {request.path} (the API lives under {API_PREFIX}/)"
        return ApiError(exc.code or 500, code, message).response()

    @app.errorhandler(Exception)
    def _internal(exc: Exception) -> Response:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return ApiError(500, "internal_error", f"internal server error: {exc}").response()
