"""``python -m tramway_jupyter.cli``: the same as the ``tramway-jupyter`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
