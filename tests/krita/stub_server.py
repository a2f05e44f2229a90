"""A scripted HTTP server for fast unit tests of the plugin's client and error mapping.

Not the real server: the end-to-end tests use that. Each route maps (method, path) to a
list of responses served in turn (the last one repeats); a response is
(status, content_type, body) or the string "drop" to close the connection unanswered.
Every request is recorded with its headers and body.
"""

from __future__ import annotations

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
        return [r for r in self.requests if r["method"] == method and r["path"] == "/api/v1" + path]

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
                responses = stub.routes.get((self.command, self.path))
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
