"""``python -m iamlogic``: the command line (see :mod:`iamlogic.cli`)."""

import sys

from .cli import main

sys.exit(main())
