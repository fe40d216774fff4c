"""The job store's connection: one sqlite connection per thread and per process (never shared
across a fork), in WAL mode with a ``busy_timeout``, short ``BEGIN IMMEDIATE`` transactions, and
read snapshots. Opening checks the file and brings its schema up to date (:mod:`.store_schema`).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..exceptions import StoreCorruptError, StoreError
from ..paths import default_store_path
from .store_schema import check_store_file, migrate, store_error

#: The store files this process holds sqlite connections to, by (pid, path). A file in use is
#: never opened by other means again (not even to read its header): closing any descriptor of a
#: file drops every POSIX lock the process holds on it, so another process's sqlite would see
#: no other user, take itself for the last one at close, checkpoint and delete the WAL and its
#: index under this process's open connection; this process's next commits would go to a WAL
#: nobody else reads, and be lost.
_CONNECTED: set[tuple[int, str]] = set()


def _in_use(path: Path) -> bool:
    return (os.getpid(), str(path.resolve())) in _CONNECTED


class StoreConnection:
    """The sqlite file of a job store, opened lazily per thread; the queries live in subclasses."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0):
        self.path = Path(path) if path is not None else default_store_path()
        self._timeout = timeout
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create {self.path.parent} for the job store: {exc.strerror or exc}; "
                f"set TRAMWAY_JUPYTER_HOME (or TRAMWAY_JUPYTER_STORE) to a writable place"
            ) from None
        if not _in_use(self.path):  # checked when this process first opened it
            check_store_file(self.path)
        with self._tx() as db:
            migrate(db)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        pid = getattr(self._local, "pid", None)
        if conn is None or pid != os.getpid():  # never share a connection across fork
            try:
                conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            except sqlite3.Error as exc:
                raise store_error(self.path, exc, "open") from None
            try:
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                conn.close()
                raise store_error(self.path, exc, "open") from None
            self._local.conn = conn
            self._local.pid = os.getpid()
            _CONNECTED.add((os.getpid(), str(self.path.resolve())))
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, "write to") from None
        try:
            yield db
        except BaseException as exc:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if type(exc) is sqlite3.DatabaseError:  # damage found inside a transaction
                raise StoreCorruptError(self.path, str(exc)) from None
            raise
        else:
            db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Run the reads of the block in one read transaction of this thread's connection (WAL:
        a consistent view while workers write, without blocking them)."""
        db = self._conn()
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def integrity_problem(self) -> str | None:
        """``PRAGMA integrity_check`` (reads the whole file): ``None`` if sound, else the first fault."""
        try:
            rows = self._conn().execute("PRAGMA integrity_check(5)").fetchall()
        except sqlite3.Error as exc:
            return str(exc)
        faults = [r[0] for r in rows if r[0] != "ok"]
        return "; ".join(faults) if faults else None
