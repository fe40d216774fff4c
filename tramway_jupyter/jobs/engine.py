"""Execute notebook cells in a kernel that stays up across tasks.

papermill starts one kernel per notebook (1.2 to 1.7 s here); a job of many small tasks must
pay that once. :class:`WarmKernel` starts one kernel, runs each task's cells in it and resets
the user namespace between tasks (``%reset``-like, modules stay imported), collecting outputs
in nbformat form so that each task still gets a complete executed notebook.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import re
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager

from .nbjson import output_from_msg

logger = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class KernelDiedError(RuntimeError):
    """The kernel process ended while a cell was running."""


class CellTimeoutError(TimeoutError):
    """A cell ran longer than the task timeout and was interrupted."""


@dataclass
class CellResult:
    outputs: list[Any] = field(default_factory=list)
    execution_count: int | None = None
    error: dict[str, Any] | None = None  # {"ename", "evalue", "traceback"} when the cell raised


class WarmKernel:
    """One kernel, many tasks."""

    def __init__(self, kernel_name: str = "python3", *, startup_timeout: float = 60.0,
                 cwd: str | None = None, env: dict[str, str] | None = None) -> None:
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self.cwd = cwd
        self.env = env
        self.km: KernelManager | None = None
        self.kc: Any = None

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.perf_counter()
        # IPC sockets in a private directory: no TCP port, nothing another user can reach
        self._ipc_dir = tempfile.mkdtemp(prefix="tj-kernel-")
        self.km = KernelManager(kernel_name=self.kernel_name, transport="ipc",
                                ip=os.path.join(self._ipc_dir, "k"))
        kwargs: dict[str, Any] = {}
        if self.cwd:
            kwargs["cwd"] = self.cwd
        if self.env is not None:
            kwargs["env"] = self.env
        self.km.start_kernel(**kwargs)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=self.startup_timeout)
        except RuntimeError:
            self.shutdown()
            raise
        logger.info("kernel %s up in %.2f s", self.kernel_name, time.perf_counter() - t0)

    def shutdown(self) -> None:
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # pragma: no cover - best effort
                pass
            self.kc = None
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:  # pragma: no cover - best effort
                pass
            self.km = None
        if getattr(self, "_ipc_dir", None):
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None

    def __enter__(self) -> WarmKernel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    # -- execution ------------------------------------------------------------------------
    def reset(self) -> None:
        """Give the next task a clean namespace (modules stay imported, figures are closed)."""
        self.run(
            "import sys as __tj_sys\n"
            "if 'matplotlib.pyplot' in __tj_sys.modules:\n"
            "    __tj_sys.modules['matplotlib.pyplot'].close('all')\n"
            "get_ipython().reset(new_session=True, aggressive=False)\n",
            silent=True,
        )

    def run(self, code: str, *, timeout: float | None = None, silent: bool = False) -> CellResult:
        """Run ``code``; return its outputs and error. Raises on timeout or a dead kernel."""
        if self.kc is None or self.km is None:
            raise RuntimeError("kernel not started")
        kc, km = self.kc, self.km
        msg_id = kc.execute(code, silent=silent, store_history=not silent, allow_stdin=False,
                            stop_on_error=False)
        result = CellResult()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                if not km.is_alive():
                    raise KernelDiedError("the kernel died while running a cell") from None
                if deadline is not None and time.monotonic() > deadline:
                    km.interrupt_kernel()
                    self._drain(msg_id, 10.0)
                    raise CellTimeoutError(f"cell exceeded the time limit of {timeout} s") from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            mtype = msg["msg_type"]
            content = msg["content"]
            if mtype == "status":
                if content["execution_state"] == "idle":
                    break
                continue
            if mtype == "execute_input":
                result.execution_count = content.get("execution_count")
                continue
            if mtype == "clear_output":
                result.outputs.clear()
                continue
            if mtype == "error":
                result.error = {
                    "ename": content.get("ename", ""),
                    "evalue": content.get("evalue", ""),
                    "traceback": strip_ansi("\n".join(content.get("traceback", []))),
                }
            if mtype in ("stream", "display_data", "execute_result", "error"):
                out = output_from_msg(msg)
                if (mtype == "stream" and result.outputs
                        and result.outputs[-1].get("output_type") == "stream"
                        and result.outputs[-1].get("name") == out["name"]):
                    result.outputs[-1]["text"] += out["text"]
                else:
                    result.outputs.append(out)
            if mtype == "execute_result":
                result.execution_count = content.get("execution_count", result.execution_count)
        return result

    def _drain(self, msg_id: str, timeout: float) -> None:
        """Read iopub until the interrupted cell reports idle (or ``timeout``)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                return

    def eval_json(self, expression: str) -> Any:
        """Evaluate ``expression`` in the kernel and return its value, through JSON."""
        import json

        res = self.run(f"import json as __tj_json\nprint(__tj_json.dumps({expression}))",
                       silent=False)
        if res.error:
            raise RuntimeError(f"{res.error['ename']}: {res.error['evalue']}")
        text = "".join(o.get("text", "") for o in res.outputs if o.get("output_type") == "stream")
        return json.loads(text.strip().splitlines()[-1]) if text.strip() else None
