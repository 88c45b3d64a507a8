"""``python -m quantlab``: the command line."""

import sys

from quantlab.cli import main

sys.exit(main())
