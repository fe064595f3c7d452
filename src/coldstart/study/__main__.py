"""``python -m coldstart.study``: see :mod:`coldstart.study.run`."""

import sys

from coldstart.study.run import main

if __name__ == "__main__":
    sys.exit(main())
