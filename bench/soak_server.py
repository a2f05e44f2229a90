"""Soak: many jobs through one real server, with cancels, disconnects, bad uploads and a full
queue mixed in. Checks that every job ends in a final state, that finished jobs are freed
after --result-ttl, and that the server's memory, threads and open files after the run are
within 10% of their values after the first 20 jobs (Linux: read from /proc; for open files,
10% or one, since 10% of the eight a server has open is less than one).

    python bench/soak_server.py             # 300 jobs, about 2 minutes on 2 cores
    python bench/soak_server.py --jobs 1000

tests/test_server_soak.py runs a short soak in CI.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.testing import ServerProcess  # noqa: E402

FINAL = {"succeeded", "failed", "canceled"}
PARAMS = {"quality": "draft", "size": 32, "iterations": 2, "scales": 1}
QUEUE_SIZE = 4
RESULT_TTL = 5.0
KINDS = ("normal", "normal", "normal", "cancel", "disconnect", "events", "bad", "burst")


def _png(seed: int) -> bytes:
    image = Image.effect_noise((24 + seed % 9, 20), 60 + seed % 50).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def usage(pid: int) -> dict[str, int]:
    """The server process's resident memory (kB), threads and open file descriptors."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "files": len(os.listdir(f"/proc/{pid}/fd")),
    }


@dataclass
class Tally:
    ids: list[tuple[str, float]] = field(default_factory=list)  # (job id, when submitted)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, job_id: str | None = None) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if job_id:
                self.ids.append((job_id, time.monotonic()))


def one_job(api: str, kind: str, rng: random.Random, tally: Tally) -> None:
    """Run one job of this kind against the server; raise AssertionError on a wrong answer."""
    content, style = _png(rng.randrange(1000)), _png(rng.randrange(1000))
    files = {"content": content, "style": style}
    data = {"params": json.dumps({**PARAMS, "seed": rng.randrange(100)})}
    if kind == "bad":
        files["content"] = content[: rng.randrange(8, len(content) - 12)]  # before IEND
        response = requests.post(api + "/jobs", files=files, data=data, timeout=10)
        assert response.status_code in (400, 429), response.text  # 429: the queue is checked first
        tally.add(f"bad upload ({response.status_code})")
        return
    if kind == "disconnect":  # a synchronous client that gives up: its job runs on
        try:
            requests.post(api + "/stylize", files=files, data=data, timeout=0.05)
        except requests.exceptions.RequestException:
            pass
        tally.add("client disconnect")
        return
    if kind == "burst":  # more than the queue holds: some answered 429
        for _ in range(QUEUE_SIZE + 2):
            response = requests.post(api + "/jobs", files=files, data=data, timeout=10)
            assert response.status_code in (202, 429), response.text
            if response.status_code == 202:
                tally.add("burst accepted", response.json()["id"])
            else:
                assert response.headers.get("Retry-After"), "429 without Retry-After"
                tally.add("burst refused (429)")
        return
    deadline = time.monotonic() + 60
    while (
        response := requests.post(api + "/jobs", files=files, data=data, timeout=10)
    ).status_code == 429:
        tally.add("queue full (429), retried")  # as a client should: wait, then again
        assert time.monotonic() < deadline, "the queue stayed full for 60 s"
        time.sleep(0.2)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    tally.add(kind, job_id)
    url = f"{api}/jobs/{job_id}"
    if kind == "cancel":
        time.sleep(rng.choice([0.0, 0.02, 0.1]))
        state = requests.delete(url, timeout=10).json()["state"]
        assert state in FINAL, state
        return
    if kind == "events":  # an event stream that the client drops after its first event
        with requests.get(url + "/events", stream=True, timeout=10) as stream:
            next(stream.iter_lines())
        return
    deadline = time.monotonic() + 60
    while (state := requests.get(url, timeout=10).json()["state"]) not in FINAL:
        assert time.monotonic() < deadline, f"job {job_id} still {state} after 60 s"
        time.sleep(0.02)
    if state == "succeeded":
        result = requests.get(url + "/result", timeout=10)
        assert Image.open(io.BytesIO(result.content)).size[0] > 0
        if rng.random() < 0.5:  # the other half is left to expire
            requests.delete(url, timeout=10)


def wait_idle(api: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = requests.get(api + "/info", timeout=10).json()
        if info["queue"]["length"] == 0 and not info["running"]:
            time.sleep(0.5)  # let the server close the connections just used
            return
        time.sleep(0.1)
    raise AssertionError(f"the server is still busy after {timeout} s: {info}")


def soak(jobs: int = 300, seed: int = 0, clients: int = 3, baseline_after: int = 20) -> dict:
    """Run `jobs` jobs; returns the figures (and raises AssertionError on any failure)."""
    args = ["--queue-size", str(QUEUE_SIZE), "--result-ttl", str(RESULT_TTL), "--threads", "8"]
    with ServerProcess(*args) as server:
        assert server.proc is not None
        pid, api, tally = server.proc.pid, server.api, Tally()
        rng = random.Random(seed)
        kinds = [rng.choice(KINDS) for _ in range(jobs)]
        started = time.monotonic()

        def run(part: list[tuple[int, str]]) -> None:
            local = random.Random(seed * 1000 + part[0][0] if part else seed)
            for _, kind in part:
                one_job(api, kind, local, tally)

        def phase(items: list[tuple[int, str]]) -> None:
            parts = [items[i::clients] for i in range(clients)]
            errors: list[BaseException] = []

            def guarded(part: list[tuple[int, str]]) -> None:
                try:
                    run(part)
                except BaseException as exc:  # reported in the main thread
                    errors.append(exc)

            threads = [threading.Thread(target=guarded, args=(p,)) for p in parts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]

        numbered = list(enumerate(kinds))
        phase(numbered[:baseline_after])
        wait_idle(api)
        before = usage(pid)
        phase(numbered[baseline_after:])
        wait_idle(api)
        elapsed = time.monotonic() - started
        after = usage(pid)
        stuck = []
        for job_id, _ in tally.ids:
            response = requests.get(f"{api}/jobs/{job_id}", timeout=10)
            if response.status_code == 200 and response.json()["state"] not in FINAL:
                stuck.append(job_id)
        time.sleep(RESULT_TTL + 2)  # every finished job is now past --result-ttl
        kept = sum(
            requests.get(f"{api}/jobs/{job_id}", timeout=10).status_code == 200
            for job_id, _ in tally.ids
        )
        expired = usage(pid)
        assert requests.get(api + "/health", timeout=5).json()["status"] == "ok"
    report = {
        "jobs": jobs,
        "seconds": round(elapsed, 1),
        "kinds": dict(sorted(tally.counts.items())),
        "after_first": before,
        "after_all": after,
        "after_ttl": expired,
        "stuck": len(stuck),
        "kept_after_ttl": kept,
    }
    assert not stuck, f"jobs not in a final state: {stuck}"
    assert kept == 0, f"{kept} jobs still kept after --result-ttl"
    for name in ("rss_kb", "threads", "files"):  # files: 10% of 8 is less than one
        assert after[name] <= before[name] * 1.1 + (name == "files"), (name, before, after)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    report = soak(args.jobs, args.seed)
    print(json.dumps(report, indent=1))
    b, a, e = report["after_first"], report["after_all"], report["after_ttl"]
    print(f"\n{report['jobs']} jobs in {report['seconds']} s; stuck: {report['stuck']}")
    print("            after 20 jobs   after all   after the TTL")
    for name in ("rss_kb", "threads", "files"):
        print(f"{name:10} {b[name]:>13} {a[name]:>11} {e[name]:>15}")


if __name__ == "__main__":
    main()
