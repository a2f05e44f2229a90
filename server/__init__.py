"""The local style server: the nst engine behind the HTTP API described in docs/api.md.

`python -m server` (or `nst serve`) runs it under waitress; `server.app.create_app` builds the
Flask application; `server.jobs.JobManager` owns the queue and the worker.
"""
