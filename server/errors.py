"""HTTP errors as the API sends them: JSON {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

from flask import Response, jsonify


class ApiError(Exception):
    """An error answer; raised anywhere in a request and turned into JSON by the app."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, str] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        resp = jsonify({"error": body})
        resp.status_code = self.status
        for name, value in self.headers.items():
            resp.headers[name] = value
        return resp


# HTTP status of POST /stylize for each error a failed job can carry (canceled jobs: 410).
JOB_ERROR_STATUS = {
    "invalid_image": 400,
    "invalid_params": 400,
    "out_of_memory": 507,
    "weights_error": 500,
    "numerical_error": 500,
    "job_failed": 500,
}
