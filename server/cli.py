"""`nst serve` / `python -m server`: run the API under waitress until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading

from server.config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig

log = logging.getLogger("server")


def build_parser(prog: str = "nst serve") -> argparse.ArgumentParser:
    defaults = ServerConfig()
    p = argparse.ArgumentParser(
        prog=prog,
        description="Run the local style server (HTTP API v1, see docs/api.md).",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default %(default)s; any other needs --token)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port (default %(default)s; 0: a free one, shown on the ready line)",
    )
    p.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on every request but /health "
        "(default: env NST_TOKEN)",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="compute device (default %(default)s)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=defaults.max_pixels,
        help="largest image accepted, in pixels (default %(default)s)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=defaults.max_upload_mb,
        help="largest request body in MB (default %(default)g)",
    )
    p.add_argument(
        "--queue-size",
        type=int,
        default=defaults.queue_size,
        help="jobs that may wait behind the running one (default %(default)s)",
    )
    p.add_argument(
        "--result-ttl",
        type=float,
        default=defaults.result_ttl,
        help="seconds a finished job's result is kept (default %(default)g)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=defaults.threads,
        help="HTTP request threads (default %(default)s)",
    )
    p.add_argument(
        "--client-timeout",
        type=float,
        default=defaults.client_timeout,
        help="seconds a connection may stay idle (nothing sent, no request running) before it "
        "is dropped (default %(default)g)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=defaults.request_timeout,
        help="seconds a request may take to arrive, headers and body, before its connection is "
        "dropped: slow senders cannot hold connections (default %(default)g)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let a browser client from this origin in (e.g. http://localhost:3000; "
        "repeatable; default: none, web pages are refused)",
    )
    p.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        metavar="PID",
        help="stop when that process is gone (an editor that started this server passes its own)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="log verbosity (default %(default)s)",
    )
    return p


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: may resolve to anything
        return False


def _check_ranges(args: argparse.Namespace) -> str | None:
    if not 0 <= args.port <= 65535:
        return f"--port must be between 0 and 65535 (got {args.port})"
    for name in ("max_pixels", "queue_size", "threads"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1"
    for name in ("max_upload_mb", "result_ttl", "client_timeout", "request_timeout"):
        if not getattr(args, name) > 0:
            return f"--{name.replace('_', '-')} must be above 0"
    return None


class _Stop(KeyboardInterrupt):
    """Raised from the signal handler to leave waitress's loop. A KeyboardInterrupt, because
    waitress passes those on (and stops its threads) where it would swallow other errors."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a bad flag: argparse has printed why
        return int(exc.code or 0)
    token = args.token or os.environ.get("NST_TOKEN") or None
    if not is_loopback(args.host) and not token:
        print(
            f"nst serve: refusing to listen on {args.host} without a token, since anyone on "
            "the network could use it; pass --token SECRET (or set NST_TOKEN), or use "
            "--host 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    problem = _check_ranges(args)
    if problem:
        print(f"nst serve: {problem}", file=sys.stderr)
        return 2
    if args.parent_pid is not None:
        from server import parent

        if args.parent_pid < 1 or not parent.is_alive(args.parent_pid):
            print(f"nst serve: --parent-pid {args.parent_pid}: no such process", file=sys.stderr)
            return 2
        parent.watch(args.parent_pid)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # waitress warns on every short burst of queued requests; that is normal under polling.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        token=token,
        device=args.device,
        max_pixels=args.max_pixels,
        max_upload_mb=args.max_upload_mb,
        queue_size=args.queue_size,
        result_ttl=args.result_ttl,
        threads=args.threads,
        client_timeout=args.client_timeout,
        request_timeout=args.request_timeout,
        allow_origins=tuple(args.allow_origin),
    )
    return serve(config)


# Niceness added to the request threads. On a small machine every status poll takes CPU from the
# running job, and with torch's threads in lockstep a poll that preempts one of them stalls
# all of them; at a lower priority the polls run in the job's idle moments instead.
REQUEST_THREAD_NICENESS = 10


def _lower_this_threads_priority() -> None:
    """Lower the calling thread's priority (Linux: per thread; elsewhere nothing, since
    setpriority would lower the whole process there, the job included)."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, tid) + REQUEST_THREAD_NICENESS
        os.setpriority(os.PRIO_PROCESS, tid, min(nice, 19))
    except OSError:
        pass  # e.g. forbidden by a sandbox: polling then just costs the job a little more


def serve(config: ServerConfig, ready: threading.Event | None = None) -> int:
    """Warm the model, listen, and serve until SIGINT/SIGTERM; returns the exit code."""
    import waitress

    import nst
    from nst import heap
    from nst.device import pick_device, pick_precision
    from nst.vgg import load_vgg19
    from server import deadline
    from server.app import _dtype_name, create_app
    from server.jobs import JobManager

    heap.one_arena()  # before the worker thread starts (nst/heap.py)
    try:
        device = pick_device(config.device)
        precision = _dtype_name(pick_precision("auto", device))
        load_vgg19("caffe", "max", device)  # warm: the first job should not pay for it
    except (RuntimeError, nst.WeightsError) as exc:
        print(f"nst serve: {exc}", file=sys.stderr)
        return 1
    manager = JobManager.from_config(config)
    info = {"device": str(device), "precision": precision, "weights": "caffe"}
    app = create_app(config, manager, info)
    manager.start()  # the worker thread keeps this thread's priority...
    _lower_this_threads_priority()  # ...while waitress's threads, made below, inherit this one
    try:
        server = waitress.create_server(
            app,
            host=config.host,
            port=config.port,
            threads=config.threads,
            # Above the app's limit, so that the app answers 413 as JSON first.
            max_request_body_size=config.max_upload_bytes + 1024 * 1024,
            ident="nst",
            asyncore_use_poll=True,
            # Idle connections (opened and never used, or a client gone quiet) are dropped;
            # requests are read in full before a thread takes them, so slow senders hold no
            # thread. A running request (a long /stylize) is never cut.
            channel_timeout=config.client_timeout,
            cleanup_interval=max(
                1, min(30, int(min(config.client_timeout, config.request_timeout) / 2))
            ),
        )
        deadline.install(server, config.request_timeout)
    except OSError as exc:
        print(
            f"nst serve: cannot listen on {config.host}:{config.port} ({exc.strerror or exc}); "
            "is another server running there? Pick another --port",
            file=sys.stderr,
        )
        manager.shutdown(timeout=5.0)
        return 1
    port = getattr(server, "effective_port", config.port)
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(
        f"nst server ready on http://{host}:{port}/api/v1 (device {device}, precision "
        f"{precision}, weights caffe, auth {'token' if config.token else 'off'})",
        file=sys.stderr,
        flush=True,
    )

    stopping = []

    def stop(signum: int, frame: object) -> None:
        if stopping:  # a second Ctrl+C: stop waiting for anything
            os._exit(1)
        stopping.append(signum)
        log.info("stopping (%s): canceling jobs", signal.Signals(signum).name)
        # Cancel first, so that request threads waiting on jobs (/stylize, /events) finish
        # before waitress waits for its threads.
        manager.stop()
        raise _Stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    if ready is not None:
        ready.set()
    try:
        server.run()  # returns after waitress caught our _Stop (or a KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        manager.shutdown(timeout=5.0)
        server.close()
    log.info("stopped")
    return 0
