"""Slow and idle clients hold no request thread, and idle ones are dropped after a timeout."""

from __future__ import annotations

import socket
import threading
import time

import requests

from server.testing import ServerProcess


def test_idle_and_slow_connections_neither_block_nor_linger() -> None:
    with ServerProcess("--client-timeout", "3", "--threads", "4") as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
        stop = threading.Event()

        def trickle() -> None:  # headers, then a body, at about 1 KB/s
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                head = (
                    "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: multipart/form-data; boundary=x\r\n"
                    "Content-Length: 100000\r\n\r\n"
                )
                for char in head:
                    if stop.is_set():
                        return
                    sock.sendall(char.encode())
                    time.sleep(0.02)
                while not stop.is_set():
                    sock.sendall(b"a" * 100)
                    time.sleep(0.1)

        slow = [threading.Thread(target=trickle, daemon=True) for _ in range(3)]
        for thread in slow:
            thread.start()
        try:
            worst = 0.0
            for _ in range(20):  # meanwhile health and info answer at once
                for path in ("/health", "/info"):
                    started = time.monotonic()
                    assert requests.get(server.api + path, timeout=5).status_code == 200
                    worst = max(worst, time.monotonic() - started)
                time.sleep(0.1)
            assert worst < 1.0, f"a request took {worst:.2f} s behind slow clients"
            # The idle connections are closed by the server after --client-timeout (3 s).
            time.sleep(5.0)
            closed = 0
            for sock in idle:
                sock.settimeout(2)
                try:
                    closed += sock.recv(1) == b""
                except (ConnectionResetError, TimeoutError):
                    pass
            assert closed == len(idle), f"only {closed} of {len(idle)} idle connections dropped"
        finally:
            stop.set()
            for sock in idle:
                sock.close()
        assert requests.get(server.api + "/health", timeout=5).status_code == 200
