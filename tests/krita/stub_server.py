"""A scripted HTTP server for fast unit tests of the plugin's client and error mapping.

Not the real server: the end-to-end tests use that. Each route maps (method, path) to a
list of responses served in turn (the last one repeats); a response is
(status, content_type, body) or the string "drop" to close the connection unanswered.
Every request is recorded with its headers and body.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubServer:
    def __init__(self):
        self.routes = {}
        self.requests = []
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(self, method, path, *responses):
        self.routes[(method, "/api/v1" + path)] = list(responses)

    def json(self, method, path, status, payload):
        self.route(method, path, (status, "application/json", json.dumps(payload).encode()))

    def requests_to(self, method, path):
        return [
            r
            for r in self.requests
            if r["method"] == method and r["path"].split("?")[0] == "/api/v1" + path
        ]

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                # Routes match the path without its query; the query is in stub.requests.
                responses = stub.routes.get((self.command, self.path.split("?")[0]))
                if not responses:
                    responses = [
                        (
                            404,
                            "application/json",
                            b'{"error": {"code": "not_found", "message": "no route"}}',
                        )
                    ]
                response = responses.pop(0) if len(responses) > 1 else responses[0]
                if response == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, content_type, payload = response
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                if status == 401:
                    self.send_header("WWW-Authenticate", "Bearer")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

        return Handler


def free_port():
    """A port with nothing listening (bound then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a scripted job: queued, running (3 polls), then final_state ------------------------
JSON = "application/json"


def png(width=4, height=3, rgba=(10, 20, 30, 255)):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), rgba).save(buffer, "PNG")
    return buffer.getvalue()


def body(payload):
    return json.dumps(payload).encode()


def job_routes(stub, result=None, final_state="succeeded", error=None):
    stub.json("POST", "/jobs", 202, {"id": "j1", "state": "queued", "queue_position": 0})
    running = {
        "id": "j1",
        "state": "running",
        "queue_position": 0,
        "error": None,
        "progress": {
            "step": 3,
            "steps": 10,
            "fraction": 0.3,
            "eta": 4.2,
            "scale": 1,
            "scales": 2,
            "loss": 1.0,
            "elapsed": 1.0,
        },
    }
    final = dict(
        running,
        state=final_state,
        error=error,
        progress=dict(running["progress"], step=10, fraction=1.0, eta=0),
    )
    stub.route(
        "GET",
        "/jobs/j1",
        (200, JSON, body(dict(running, state="queued", queue_position=2))),
        (200, JSON, body(running)),
        (200, JSON, body(running)),
        (200, JSON, body(running)),
        (200, JSON, body(final)),
    )
    stub.route("GET", "/jobs/j1/preview", (200, "image/png", png(2, 2)))
    stub.route("GET", "/jobs/j1/result", (200, "image/png", result or png()))
    stub.json("DELETE", "/jobs/j1", 200, {"id": "j1", "state": "canceled"})


def parse_multipart(request):
    """The parts of a multipart request, as {name: [(filename, content_type, bytes)]}."""
    head = "Content-Type: {}\r\n\r\n".format(request["headers"]["Content-Type"])
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        head.encode() + request["body"]
    )
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts.setdefault(name, []).append(
            (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        )
    return parts
