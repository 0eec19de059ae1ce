"""``python -m retrieval.cli ...``: the ``retrieval`` command."""

import sys

from . import main

sys.exit(main())
