"""A task's status record as the store sees it: the one-line error and the store update."""

from __future__ import annotations

from typing import Any


def error_summary(err: dict[str, Any]) -> str:
    """One line for listings: ``ename: evalue (cell N)``, cut at 300 characters."""
    cell = err.get("cell_index")
    where = f" (cell {cell})" if cell is not None else ""
    msg = f"{err.get('ename', 'Error')}: {err.get('evalue', '')}".strip()
    return (msg[:300] + "…" if len(msg) > 300 else msg) + where


def status_update(task_id: str, st: dict[str, Any]) -> dict[str, Any]:
    """The ``Store.update_tasks`` item that a task's status record makes."""
    err = st.get("error")
    u: dict[str, Any] = {
        "task_id": task_id,
        "state": st["state"],
        "attempt": int(st.get("attempt", 1)),
        "started": st.get("started"),
        "finished": st.get("finished"),
        "duration": st.get("duration"),
        "error": error_summary(err) if err else None,
        "notebook": st.get("notebook"),
        "records": list(st.get("records") or []),
        "results": st.get("results"),
        "host": st.get("host"),
    }
    if st.get("job_index") is not None:
        u["job_index"] = int(st["job_index"])
    return u
