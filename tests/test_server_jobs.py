"""The job manager in-process, with the real engine: a job that fails late fails alone."""

from __future__ import annotations

import io

from conftest import small
from PIL import Image

import nst
from server.jobs import CANCELED, FAILED, SUCCEEDED, Job, JobManager

PARAMS = nst.Params.from_dict({"size": 64, "iterations": 3, "scales": 1})


def truncated_but_unread(content_path) -> Image.Image:
    """An image whose header is fine but whose pixel data is cut: it fails when decoded,
    i.e. late, inside the worker (the HTTP layer would have refused it at upload)."""
    data = io.BytesIO()
    small(content_path, 64).save(data, "PNG")
    raw = data.getvalue()
    return Image.open(io.BytesIO(raw[: len(raw) * 2 // 3]))


def test_late_failure_fails_alone_and_worker_goes_on(content_path, style_path) -> None:
    manager = JobManager(queue_size=4)
    manager.start()
    try:
        style = small(style_path, 64)
        bad = Job(content=truncated_but_unread(content_path), styles=[style], params=PARAMS)
        good = Job(content=small(content_path, 48), styles=[style], params=PARAMS)
        manager.submit(bad)
        manager.submit(good)
        assert bad.done.wait(60) and good.done.wait(60)
        assert bad.state == FAILED
        assert bad.error["code"] == "job_failed" and "truncated" in bad.error["message"]
        assert bad.result_png is None
        assert good.state == SUCCEEDED
        assert Image.open(io.BytesIO(good.result_png)).size == good_size(good)
    finally:
        manager.shutdown()


def good_size(job: Job) -> tuple[int, int]:
    return job.width, job.height


def test_finished_jobs_expire_after_ttl_and_count(content_path, style_path) -> None:
    manager = JobManager(queue_size=8, result_ttl=60, max_results=2)
    manager.start()
    try:
        jobs = [
            Job(content=small(content_path, 40), styles=[small(style_path, 40)], params=PARAMS)
            for _ in range(3)
        ]
        for job in jobs:
            manager.submit(job)
        for job in jobs:
            assert job.done.wait(60) and job.state == SUCCEEDED
        assert job.content is None and job.styles == []  # inputs freed when finished
        manager.submit(
            Job(content=small(content_path, 40), styles=[small(style_path, 40)], params=PARAMS)
        )  # pruning happens on submit
        assert manager.get(jobs[0].id) is None  # the oldest went over the count
        assert manager.get(jobs[2].id) is jobs[2]
        manager.result_ttl = 0.0
        manager.check_room()
        manager.submit(
            Job(content=small(content_path, 40), styles=[small(style_path, 40)], params=PARAMS)
        )
        assert manager.get(jobs[2].id) is None  # expired
    finally:
        manager.shutdown()


def test_shutdown_cancels_queued_and_running(content_path, style_path) -> None:
    manager = JobManager(queue_size=4)
    manager.start()
    slow = nst.Params.from_dict({"size": 64, "iterations": 5000, "scales": 1})
    running = Job(content=small(content_path, 48), styles=[small(style_path, 48)], params=slow)
    queued = Job(content=small(content_path, 48), styles=[small(style_path, 48)], params=slow)
    manager.submit(running)
    manager.submit(queued)
    while running.progress["step"] < 1:
        running.done.wait(0.02)
    manager.shutdown(timeout=10)
    assert running.state == CANCELED and queued.state == CANCELED
    assert running.error["code"] == queued.error["code"] == "server_shutdown"
