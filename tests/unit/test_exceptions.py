"""One hierarchy of errors: every public exception class lives in tramway_jupyter.exceptions."""

from __future__ import annotations

import ast
from pathlib import Path

import tramway_jupyter
from tramway_jupyter import exceptions as exc

ROOT = Path(tramway_jupyter.__file__).parent


def test_every_public_exception_is_defined_in_exceptions_py():
    outside = []
    for path in ROOT.rglob("*.py"):
        if path.name == "exceptions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue  # private control flow (_Terminated, _Cancel, _HelpShown) stays local
            bases = [ast.unparse(b) for b in node.bases]
            if any(b.endswith(("Error", "Exception")) for b in bases):
                outside.append(f"{path.relative_to(ROOT)}: {node.name}({', '.join(bases)})")
    assert outside == []


def test_moved_names_still_importable_from_their_modules():
    from tramway_jupyter.backends.pool import PoolError
    from tramway_jupyter.jobs.engine import CellTimeoutError, KernelDiedError
    from tramway_jupyter.jobs.results import RecordNotFoundError
    from tramway_jupyter.jobs.store import StoreCorruptError
    from tramway_jupyter.server.service import ConflictError, NotFoundError, RequestError

    moved = [PoolError, CellTimeoutError, KernelDiedError, RecordNotFoundError,
             StoreCorruptError, ConflictError, NotFoundError, RequestError]
    for cls in moved:
        assert getattr(exc, cls.__name__) is cls
        assert issubclass(cls, exc.TramwayJupyterError)
    # the builtin bases callers catch are kept
    assert issubclass(KernelDiedError, RuntimeError) and issubclass(CellTimeoutError, TimeoutError)
    assert issubclass(RecordNotFoundError, KeyError) and issubclass(RequestError, ValueError)
    assert str(RecordNotFoundError("no record 'x'")) == "no record 'x'"


def test_connection_errors_share_one_base():
    for cls in (exc.HostKeyError, exc.BackendUnavailableError):
        assert issubclass(cls, exc.BackendConnectionError)
    assert issubclass(exc.BackendConnectionError, exc.BackendError)
    # not an OSError: the `except OSError` of the backends must not swallow it
    assert not issubclass(exc.BackendConnectionError, OSError)
    assert not issubclass(exc.RemoteCommandError, exc.BackendConnectionError)
