"""The worker's kernel slot: the one kernel a worker keeps warm across the tasks of a job and,
when it serves many jobs, across jobs; replaced when a task needs another kind or a fresh one.
"""

from __future__ import annotations

from typing import Any

from .engine import WarmKernel
from .shell_engine import InProcessShell
from .shell_engine import available as shell_engine_available


class KernelSlot:
    """The worker's kernel, kept warm across the tasks of a job and, when serving, across jobs."""

    def __init__(self) -> None:
        self.kernel: Any = None

    def get(self, kernel_name: str, cwd: str, *, fresh: bool, then: str,
            engine: str = "shell") -> Any:
        """A kernel with a clean namespace that has run ``then``.

        ``engine="shell"``: IPython in this process (see :mod:`.shell_engine`); ``"kernel"``: a
        warm ipykernel; ``fresh``: a new ipykernel for this task (papermill's isolation).
        """
        in_process = not fresh and engine == "shell" and shell_engine_available()
        kind = InProcessShell if in_process else WarmKernel
        k = self.kernel
        if k is not None and (fresh or not k.alive or type(k) is not kind
                              or k.kernel_name != kernel_name or k.cwd != cwd):
            self.shutdown()
        if self.kernel is None:
            self.kernel = kind(kernel_name, cwd=cwd)
            self.kernel.start()
            self.kernel.run(then, silent=True)
        else:
            self.kernel.reset(then)
        return self.kernel

    def shutdown(self) -> None:
        if self.kernel is not None:
            self.kernel.shutdown()
            self.kernel = None
