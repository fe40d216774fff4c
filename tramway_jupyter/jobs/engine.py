"""Execute notebook cells in a kernel that stays up across tasks.

papermill starts one kernel per notebook (1.2 to 1.7 s here); a job of many small tasks must
pay that once. :class:`WarmKernel` starts one kernel, runs each task's cells in it and resets
the user namespace between tasks (``%reset``-like, modules stay imported), collecting outputs
in nbformat form so that each task still gets a complete executed notebook.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, cast

from jupyter_client.manager import KernelManager

from ..exceptions import CellTimeoutError, KernelDiedError
from .nbjson import output_from_msg
from .outputs import OutputCollector
from .status import TaskError

logger = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


# Installed once per kernel: records the names present at start-up, and defines the reset.
_SETUP_CODE = """\
def __tj_install():
    import sys
    ip = get_ipython()
    baseline = frozenset(ip.user_ns) | {"__tj_install"}

    def reset():
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        ns = ip.user_ns
        for k in [k for k in ns if k not in baseline]:
            del ns[k]
        ns.update({"_": "", "__": "", "___": ""})
        ns["_oh"].clear()

    ip._tj_reset = reset

    # IPython 9 keeps every chunk printed (and every figure shown) in history_manager.outputs,
    # for ever: gigabytes for a verbose task. Keep nothing there.
    class NoOutputs(dict):
        def __contains__(self, key):
            return False

        def __missing__(self, key):
            return []

    ip.history_manager.outputs = NoOutputs()

    # ipykernel sends what a cell prints every 0.2 s, all of it in one message: a tight loop
    # of prints reaches the worker as one message of tens of MB. Send at every MB instead.
    # (Patched where each write ends: IPython wraps the instances' write around each cell.)
    try:
        from ipykernel.iostream import OutStream
    except ImportError:
        return
    if getattr(OutStream, "_tj_bounded", False):
        return
    schedule = OutStream._schedule_flush

    def schedule_flush(self):
        schedule(self)
        try:
            with self._buffer_lock:  # the IO thread swaps and closes the buffers under it
                size = sum(b.tell() for b in self._buffers.values())
        except (AttributeError, ValueError):  # another ipykernel
            size = 0
        if size >= 1 << 20:
            self.flush()

    OutStream._schedule_flush = schedule_flush
    OutStream._tj_bounded = True
__tj_install()
del __tj_install
"""
_RESET_CODE = "get_ipython()._tj_reset()\n"


@dataclass
class CellResult:
    outputs: list[Any] = field(default_factory=list)
    execution_count: int | None = None
    error: TaskError | None = None  # when the cell raised (no cell index: the worker sets it)


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
        self._shell: Any = None
        self._iopub: Any = None

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.perf_counter()
        # IPC sockets in a private directory: no TCP port, nothing another user can reach
        self._ipc_dir: str | None = tempfile.mkdtemp(prefix="tj-kernel-")
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
            self._connect_fast_path()
        except RuntimeError:
            self.shutdown()
            raise
        self.run(_SETUP_CODE, silent=True)
        logger.info("kernel %s up in %.2f s", self.kernel_name, time.perf_counter() - t0)

    def _connect_fast_path(self) -> None:
        """Plain synchronous zmq sockets for execution.

        jupyter_client's blocking client wraps every send and receive in an asyncio loop run
        (about 1-2 ms per message); a task exchanges some 25 messages with its kernel.
        """
        assert self.km is not None
        self._session = self.km.session
        self._shell = self.km.connect_shell()
        self._iopub = self.km.connect_iopub()
        # a SUB socket misses what is published before its subscription is in place:
        # ping the kernel until its iopub answers reach us
        end = time.monotonic() + self.startup_timeout
        while time.monotonic() < end:
            msg = self._session.msg("kernel_info_request", {})
            self._session.send(self._shell, msg)
            if self._wait_iopub_parent(msg["header"]["msg_id"], 0.2):
                self._drain_shell()
                return
        raise RuntimeError("the kernel's iopub channel did not answer")

    def _recv_iopub(self, timeout: float) -> dict[str, Any] | None:
        if not self._iopub.poll(int(timeout * 1000)):
            return None
        _, parts = self._session.feed_identities(self._iopub.recv_multipart(copy=False),
                                                 copy=False)
        return cast(dict[str, Any], self._session.deserialize(parts, content=True, copy=False))

    def _wait_iopub_parent(self, msg_id: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            m = self._recv_iopub(left)
            if m is not None and m["parent_header"].get("msg_id") == msg_id:
                return True
        return False

    def _drain_shell(self) -> None:
        while self._shell.poll(0):
            self._shell.recv_multipart(copy=False)

    def shutdown(self) -> None:
        for sock in ("_shell", "_iopub"):
            if getattr(self, sock, None) is not None:
                getattr(self, sock).close(linger=0)
                setattr(self, sock, None)
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
        ipc_dir = getattr(self, "_ipc_dir", None)
        if ipc_dir:
            shutil.rmtree(ipc_dir, ignore_errors=True)
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
    def reset(self, then: str = "") -> None:
        """Give the next task a clean namespace (modules stay imported, figures are closed).

        Removes every name the previous task defined, as ``%reset -f`` does, but in about a
        millisecond (IPython's ``reset()`` takes ~90 ms: it rebuilds the history session and
        collects garbage). ``then`` is run in the same round trip.
        """
        self.run(_RESET_CODE + then, silent=True)

    def run(self, code: str, *, timeout: float | None = None, silent: bool = False,
            sink: OutputCollector | None = None) -> CellResult:
        """Run ``code``; return its outputs and error. Raises on timeout or a dead kernel.

        The outputs go to ``sink`` (the task's collector: log, limits) if given.
        """
        if self.km is None or getattr(self, "_shell", None) is None:
            raise RuntimeError("kernel not started")
        km = self.km
        self._drain_shell()
        # store_history=False: IPython's history database costs ~6 ms per cell; the worker
        # numbers the cells of the output notebook itself.
        request = self._session.msg("execute_request", {
            "code": code, "silent": silent, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": False})
        self._session.send(self._shell, request)
        msg_id = request["header"]["msg_id"]
        own = sink is None
        if sink is None:  # a private collector: no log, no limit
            sink = OutputCollector(max_bytes=0, max_rich=0, max_rich_bytes=0)
        result = CellResult(outputs=sink.begin_cell())
        try:
            self._collect(km, msg_id, result, sink, timeout)
        finally:
            sink.end_cell()
            if own:
                sink.finish()
        return result

    def _collect(self, km: KernelManager, msg_id: str, result: CellResult, sink: OutputCollector,
                 timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg = self._recv_iopub(0.5)
            if msg is None:
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
            if mtype == "stream":
                sink.stream(content["name"], content["text"])
            elif mtype == "status":
                if content["execution_state"] == "idle":
                    return
            elif mtype == "execute_input":
                result.execution_count = content.get("execution_count")
            elif mtype == "clear_output":
                sink.clear()
            elif mtype == "error":
                result.error = TaskError(
                    ename=content.get("ename", ""), evalue=content.get("evalue", ""),
                    traceback=strip_ansi("\n".join(content.get("traceback", []))))
                sink.error(output_from_msg(msg))
            elif mtype in ("display_data", "execute_result"):
                sink.rich(output_from_msg(msg))
                if mtype == "execute_result":
                    result.execution_count = content.get("execution_count",
                                                         result.execution_count)

    def _drain(self, msg_id: str, timeout: float) -> None:
        """Read iopub until the interrupted cell reports idle (or ``timeout``)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self._recv_iopub(0.5)
            if msg is None:
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
            raise RuntimeError(f"{res.error.ename}: {res.error.evalue}")
        text = "".join(o.get("text", "") for o in res.outputs if o.get("output_type") == "stream")
        return json.loads(text.strip().splitlines()[-1]) if text.strip() else None
