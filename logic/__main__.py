"""``python -m iamlogic``: the command line (see :mod:`iamlogic.cli`)."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the program starts: as in a command (see cli.main)
    print("iamlogic: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
