"""Execute notebook cells in an IPython shell inside the worker process (the default engine).

A Jupyter kernel costs ~1.1 s to start and ~4 ms per executed cell here (zmq messages, threads):
for a job of many small tasks that is most of the time. The worker can instead run the cells in
an :class:`IPython.core.interactiveshell.InteractiveShell` of its own: the same IPython (magics,
``display()``, ``get_ipython()``, matplotlib's inline backend), about 0.3 ms per cell, outputs
captured in nbformat form. What it cannot give is a separate process: a cell that crashes the
interpreter takes the worker down with it, and the backend then marks the job's unfinished tasks
``lost`` (as for a killed worker). ``engine="kernel"`` (a real ipykernel) and ``isolate`` (a fresh
kernel per task) remain available for notebooks that need them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import signal
import sys
import threading
from typing import Any

from ..exceptions import CellTimeoutError
from .engine import CellResult, strip_ansi
from .outputs import OutputCollector
from .status import TaskError

_INLINE = "module://matplotlib_inline.backend_inline"


class _Capture:
    """Where the shell's outputs go while a cell runs: an :class:`OutputCollector`."""

    def __init__(self, sink: OutputCollector | None) -> None:
        self.own = sink is None  # a private collector: no log, no limit
        self.sink = OutputCollector(max_bytes=0, max_rich=0, max_rich_bytes=0) if sink is None \
            else sink
        self.outputs = self.sink.begin_cell()
        self.error: TaskError | None = None

    def stream(self, name: str, text: str) -> None:
        self.sink.stream(name, text)


class _NoOutputs(dict[int, list[Any]]):
    """A ``history_manager.outputs`` that keeps nothing."""

    def __contains__(self, key: object) -> bool:
        return False

    def __missing__(self, key: object) -> list[Any]:
        return []


class _Stream(io.TextIOBase):
    def __init__(self, engine: InProcessShell, name: str) -> None:
        self.engine = engine
        self.name = name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        cap = self.engine.capture
        if cap is not None:
            cap.stream(self.name, text)
        return len(text)

    def isatty(self) -> bool:
        return False


@functools.lru_cache(maxsize=1)
def _make_shell_class() -> Any:
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type

    def capture_of(shell: Any) -> _Capture | None:
        engine = getattr(shell, "tj_engine", None)
        return engine.capture if engine is not None else None

    class CapturingDisplayPublisher(DisplayPublisher):
        def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None,
                    *args: Any, **kwargs: Any) -> None:
            cap = capture_of(self.shell)
            if cap is None:
                return super().publish(data, metadata, *args, **kwargs)
            cap.sink.rich({"output_type": "display_data", "data": data,
                           "metadata": metadata or {}})

        def clear_output(self, wait: bool = False) -> None:
            cap = capture_of(self.shell)
            if cap is None:
                super().clear_output(wait)  # type: ignore[no-untyped-call]
                return
            cap.sink.clear()

    class CapturingDisplayHook(DisplayHook):
        def start_displayhook(self) -> None:
            if capture_of(self.shell) is None:
                super().start_displayhook()  # type: ignore[no-untyped-call]

        def write_output_prompt(self) -> None:
            if capture_of(self.shell) is None:
                super().write_output_prompt()  # type: ignore[no-untyped-call]

        def write_format_data(self, format_dict: dict[str, Any],
                              md_dict: dict[str, Any] | None = None) -> None:
            cap = capture_of(self.shell)
            if cap is None:
                return super().write_format_data(format_dict, md_dict)
            cap.sink.rich({"output_type": "execute_result", "data": format_dict,
                           "metadata": md_dict or {}, "execution_count": None})

        def finish_displayhook(self) -> None:
            if capture_of(self.shell) is None:
                super().finish_displayhook()  # type: ignore[no-untyped-call]

    class TaskShell(InteractiveShell):
        tj_engine: Any = None
        display_pub_class = Type(CapturingDisplayPublisher)
        displayhook_class = Type(CapturingDisplayHook)

        def _showtraceback(self, etype: Any, evalue: Any, stb: list[str]) -> None:
            cap = capture_of(self)
            if cap is None:
                super()._showtraceback(etype, evalue, stb)
            else:
                cap.error = TaskError(ename=getattr(etype, "__name__", str(etype)),
                                      evalue=str(evalue), traceback=strip_ansi("\n".join(stb)))
                cap.sink.error({"output_type": "error", "ename": cap.error.ename,
                                "evalue": cap.error.evalue, "traceback": stb})

        def system(self, cmd: str) -> None:  # `!cmd` output goes into the notebook
            import subprocess

            p = subprocess.run(cmd, shell=True, capture_output=True, text=True)  # noqa: S602
            sys.stdout.write(p.stdout)
            sys.stderr.write(p.stderr)
            self.user_ns["_exit_code"] = p.returncode

    return TaskShell


def available() -> bool:
    """False inside a process that already runs another IPython (a user's kernel: inline)."""
    from IPython.core.interactiveshell import InteractiveShell

    return not InteractiveShell.initialized() or isinstance(InteractiveShell.instance(),
                                                            _make_shell_class())


class InProcessShell:
    """Same interface as :class:`~tramway_jupyter.jobs.engine.WarmKernel`, in this process."""

    def __init__(self, kernel_name: str = "python3", *, cwd: str | None = None) -> None:
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.shell: Any = None
        self.capture: _Capture | None = None
        self._baseline: frozenset[str] = frozenset()
        self._streams = (_Stream(self, "stdout"), _Stream(self, "stderr"))

    @property
    def alive(self) -> bool:
        return self.shell is not None

    def start(self) -> None:
        os.environ.setdefault("MPLBACKEND", _INLINE)
        self._original_cwd = os.getcwd()
        if self.cwd:
            os.chdir(self.cwd)
        cls = _make_shell_class()
        self.shell = cls.instance(colors="nocolor")
        self.shell.tj_engine = self
        self.shell.history_manager.enabled = False
        # IPython 9 keeps every chunk printed in history_manager.outputs, for ever: keep nothing
        self.shell.history_manager.outputs = _NoOutputs()
        self._baseline = frozenset(self.shell.user_ns)

    def shutdown(self) -> None:
        if self.shell is not None:
            self.reset()
            self.shell.tj_engine = None
            self.shell = None
            # leave no IPython behind in a process that is not only a worker (inline backend)
            _make_shell_class().clear_instance()
            os.chdir(self._original_cwd)

    def reset(self, then: str = "") -> None:
        """Remove what the previous task defined (modules stay imported; figures closed)."""
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        ns = self.shell.user_ns
        for k in [k for k in ns if k not in self._baseline]:
            del ns[k]
        ns.update({"_": "", "__": "", "___": ""})
        ns["_oh"].clear()
        if self.cwd:
            os.chdir(self.cwd)
        if then:
            self.run(then, silent=True)

    def run(self, code: str, *, timeout: float | None = None, silent: bool = False,
            sink: OutputCollector | None = None) -> CellResult:
        """Run ``code``; its outputs go to ``sink`` (the task's collector) if given."""
        cap = self.capture = _Capture(sink)
        alarm = timeout is not None and threading.current_thread() is threading.main_thread()
        if alarm:
            def _on_alarm(signum: int, frame: Any) -> None:
                raise CellTimeoutError(f"cell exceeded the time limit of {timeout} s")

            previous = signal.signal(signal.SIGALRM, _on_alarm)
            assert timeout is not None  # implied by alarm (for the type checker)
            signal.setitimer(signal.ITIMER_REAL, float(timeout))
        try:
            with contextlib.redirect_stdout(self._streams[0]), \
                    contextlib.redirect_stderr(self._streams[1]):
                self.shell.run_cell(code, store_history=False, silent=silent)
        finally:
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            self.capture = None
            outputs = cap.sink.end_cell()
            if cap.own:
                cap.sink.finish()
        if cap.error and cap.error.ename == "CellTimeoutError":
            raise CellTimeoutError(cap.error.evalue)
        return CellResult(outputs=outputs, error=cap.error)

    def eval_json(self, expression: str) -> Any:
        return self.shell.ev(expression)
