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


def _dropped(sock: socket.socket) -> bool:
    """Whether the server closed this connection (a read gives EOF or a reset)."""
    sock.settimeout(2)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_senders_are_dropped_at_the_request_deadline() -> None:
    """50 connections sending their headers a byte every 0.3 s (never idle, so the idle timeout
    does not catch them) and an upload trickling at 1 KB/s: health answers at once meanwhile,
    and every one of them is dropped once its request has taken --request-timeout."""
    with ServerProcess("--request-timeout", "3", "--client-timeout", "30") as server:
        stop = threading.Event()
        head = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(51)]

        def drip(sock: socket.socket, first: bytes, chunk: bytes, pause: float) -> None:
            try:
                sock.sendall(first)
                for i in range(len(head) if not chunk else 10**6):
                    if stop.is_set():
                        return
                    sock.sendall(chunk or head[i : i + 1])
                    time.sleep(pause)
            except OSError:  # dropped by the server: what this test waits for
                return

        upload = (
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000\r\n\r\n"
        )
        threads = [
            threading.Thread(target=drip, args=(s, b"", b"", 0.3), daemon=True) for s in socks[:50]
        ]
        threads.append(
            threading.Thread(target=drip, args=(socks[50], upload, b"a" * 100, 0.1), daemon=True)
        )
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            worst = 0.0
            while time.monotonic() - started < 6:  # the deadline (3 s) plus the check interval
                t = time.monotonic()
                assert requests.get(server.api + "/health", timeout=5).status_code == 200
                worst = max(worst, time.monotonic() - t)
                time.sleep(0.05)
            print(f"worst health latency with 51 slow senders: {worst * 1000:.0f} ms")
            assert worst < 1.0, f"health took {worst:.2f} s behind slow senders"
            dropped = sum(_dropped(s) for s in socks)
            assert dropped == len(socks), f"only {dropped} of {len(socks)} slow senders dropped"
        finally:
            stop.set()
            for sock in socks:
                sock.close()
        # A quick request is far inside the deadline and still served.
        assert requests.get(server.api + "/health", timeout=5).status_code == 200
