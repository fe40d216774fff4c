"""Stage a batch to the cluster: what is sent, where the data go, and the one tar upload.

The batch directory goes to ``<scratch>/<batch_id>`` without the directories the workers produce
(:data:`PRODUCED`). With the profile's ``stage_data``, the data files go to
``<scratch>/.data/<content hash>/<file name>``, each sent once whatever the batch, and
``data_map.json`` ({local path: remote path}) tells the worker where they are.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import tarfile
from pathlib import Path
from typing import IO

from ..jobs.batchdir import atomic_write_text
from ..jobs.plan import hash_file
from .context import BatchContext
from .ssh import Connection
from .tarstream import _reset_owner

logger = logging.getLogger(__name__)

#: Directories the workers produce on the cluster (never staged up, fetched back).
PRODUCED = ("status", "results", "notebooks", "logs", "outputs", "provenance")
#: Content-addressed data files, under the scratch root (shared by the batches).
DATA_DIR = ".data"


def sh(line: str) -> list[str]:
    """Run a composite line with /bin/sh whatever the login shell (csh users exist)."""
    return ["/bin/sh", "-c", line]


def data_paths(hashes: dict[str, str], present: set[str], scratch: str
               ) -> tuple[dict[str, str], dict[str, str]]:
    """({local path: remote path}, {local path: tar name under scratch} of those to send)."""
    data_map: dict[str, str] = {}
    send: dict[str, str] = {}
    for src, h in hashes.items():
        arc = f"{DATA_DIR}/{h}/{Path(src).name}"
        data_map[src] = f"{scratch}/{arc}"
        if h not in present:
            send[src] = arc
    return data_map, send


def stage_data(conn: Connection, batch: BatchContext, scratch: str) -> dict[str, str]:
    """List the data files already on the cluster, write ``data_map.json``; return those to send.

    The result maps local paths to tar names relative to ``scratch``.
    """
    sources = sorted({t.source for t in batch.plan.tasks if t.source}
                     | {t.roi_file for t in batch.plan.tasks if t.roi_file})
    hashes = {s: hash_file(s) for s in sources if os.path.isfile(s)}
    _, out, _ = conn.run(sh(
        f"cd -- {shlex.quote(scratch + '/' + DATA_DIR)} 2>/dev/null && ls -1 || true"))
    data_map, send = data_paths(hashes, set(out.split()), scratch)
    atomic_write_text(batch.dir.root / "data_map.json", json.dumps(data_map, indent=1))
    logger.info("batch %s: %d data file(s), %d to upload", batch.batch_id, len(hashes),
                len(send))
    return send


def batch_arcnames(batch: BatchContext) -> dict[str, str]:
    """{local path: tar name under scratch} of the batch directory, as the cluster needs it.

    The statuses decided here (``status/local.jsonl``: tasks resumed from earlier batches, which
    the workers there check as upstream tasks) go with it.
    """
    root = batch.dir.root
    arcs = {str(root / m): f"{batch.batch_id}/{m}" for m in sorted(os.listdir(root))
            if m not in PRODUCED and not m.startswith(".")}
    local = batch.dir.journal_path(None)
    if local.exists():
        arcs[str(local)] = f"{batch.batch_id}/status/{local.name}"
    return arcs


def upload_line(remote_dir: str, scratch: str, then: str, first: str | None = None) -> str:
    """The remote line that unpacks the uploaded tar under ``scratch``, then runs ``then`` in
    ``remote_dir`` (``first``, e.g. an image download, runs before anything)."""
    q = shlex.quote(remote_dir)
    mkdirs = " ".join(shlex.quote(f"{remote_dir}/{d}") for d in PRODUCED)
    pre = f"{first} && " if first else ""
    return (
        f"{pre}mkdir -p -- {q} {mkdirs} && tar -x -f - -C {shlex.quote(scratch)}"
        f" --no-same-owner --no-same-permissions && cd -- {q} && {then}"
    )


def put_and_run(conn: Connection, line: str, arcnames: dict[str, str]) -> tuple[int, str, str]:
    """Stream a tar of ``arcnames`` ({local path: name}) into ``line``'s stdin: one round trip."""

    def write(fh: IO[bytes]) -> None:
        with tarfile.open(fileobj=fh, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for src, arc in arcnames.items():
                tar.add(src, arcname=arc, filter=_reset_owner)

    rc, out, err = conn.exec_bytes(sh(line), write, retry=False)
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
