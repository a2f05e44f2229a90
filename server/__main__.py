"""`python -m server`: the same as `nst serve`."""

import sys

from server.cli import main

sys.exit(main(sys.argv[1:]))
