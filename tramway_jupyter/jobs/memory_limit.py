"""A worker's memory limit (``--mem``): an address-space cap (``RLIMIT_AS``), so that a task
beyond it fails with a MemoryError, and the message that names the limit and the fix.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("tramway_jupyter.worker")

#: The address-space limit of this worker (``--mem``), to name in a task's MemoryError.
_memory_limit: int | None = None


def format_mem(n: int) -> str:
    """``n`` bytes for a person: ``"2 GB"``, ``"512 MB"``."""
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def memory_message(mem: int) -> str:
    """What a task over the limit ``mem`` reports, with the fix."""
    return f"over its memory limit ({format_mem(mem)}): raise --mem"


def limit_memory(nbytes: int) -> None:
    """Cap this process's address space: an allocation beyond raises MemoryError in the task."""
    import resource

    global _memory_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        nbytes = min(nbytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, hard))
    _memory_limit = nbytes
    logger.info("memory limit: %d MB of address space", nbytes >> 20)


def current_limit() -> int | None:
    """The limit :func:`limit_memory` set in this process, if any."""
    return _memory_limit
