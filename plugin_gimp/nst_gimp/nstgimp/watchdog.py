"""Cancel the server's job if the plug-in disappears before it ends.

GIMP stops a plug-in whose progress the user cancels (its Stop button in the status bar)
by ending the plug-in's process, which then cannot tell the server. This small process,
started beside each run, waits for the plug-in to go and cancels the job if it still runs:

    python3 watchdog.py PLUGIN_PID SERVER_URL JOB_ID      (token, if any, in NST_TOKEN)
"""

from __future__ import annotations

import os
import sys
import time

POLL_SECONDS = 0.5


def main(argv=None) -> int:
    pid, url, job_id = (argv or sys.argv[1:])[:3]
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from nstgimp.client import FINAL, ServerClient
    from nstgimp.errors import NSTError
    from nstgimp.managed import is_alive

    while is_alive(int(pid)):
        time.sleep(POLL_SECONDS)
    client = ServerClient(url, os.environ.get("NST_TOKEN", ""), timeout=10)
    try:
        if client.status(job_id).get("state") not in FINAL:
            client.cancel(job_id)
    except NSTError:
        pass  # the server or the job is gone: nothing to cancel
    return 0


if __name__ == "__main__":
    sys.exit(main())
