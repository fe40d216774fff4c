"""``python -m tramway_jupyter.worker BATCH_DIR JOB``: see :mod:`tramway_jupyter.jobs.worker`."""

import sys

from .jobs.worker import main

if __name__ == "__main__":
    sys.exit(main())
