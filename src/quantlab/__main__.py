"""``python -m quantlab``: the ``quantlab`` command (what the scheduled nightly run calls)."""

import sys

from quantlab.cli import main

sys.exit(main())
