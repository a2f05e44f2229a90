"""The server fuzz tests (tests/test_server_fuzz.py) with many more examples than CI runs.

    python bench/fuzz_server.py            # 3000 examples per strategy, a few minutes
    python bench/fuzz_server.py 20000      # longer

Prints the examples run per strategy; exits non-zero on the first failure (hypothesis then
prints the smallest request that failed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    examples = sys.argv[1] if len(sys.argv) > 1 else "3000"
    env = {**os.environ, "NST_FUZZ_EXAMPLES": examples}
    test = ROOT / "tests" / "test_server_fuzz.py"
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(test)]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
