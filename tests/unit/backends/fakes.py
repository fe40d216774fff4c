"""Test doubles for the Slurm backend (unit tests only; integration tests use the real cluster).

:class:`FakeSlurm` puts fake ``sbatch``/``scontrol``/``scancel``/``sacct`` executables first on the
PATH of a :class:`~tramway_jupyter.backends.ssh.LocalConnection` (as submitit's
``MockedSubprocess`` fakes them): ``sbatch`` records its arguments and answers increasing ids,
``scontrol -o show job ID`` prints what the test put in ``scontrol-ID.txt``, ``scancel`` records.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from tramway_jupyter.backends.ssh import LocalConnection

SBATCH = """#!/bin/sh
n=$(cat "$FAKE_SLURM/next" 2>/dev/null || echo 100)
echo $((n + 1)) > "$FAKE_SLURM/next"
for a in "$@"; do printf '%s\\037' "$a"; done >> "$FAKE_SLURM/sbatch.log"
echo >> "$FAKE_SLURM/sbatch.log"
echo "$n"
"""
SCONTROL = """#!/bin/sh
if [ "$2" = config ]; then echo "JobCompLoc              = $FAKE_SLURM/jobcomp.txt"; exit 0; fi
f="$FAKE_SLURM/scontrol-$4.txt"
[ -f "$f" ] || { echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }
cat "$f"
"""
SCANCEL = """#!/bin/sh
echo "$*" >> "$FAKE_SLURM/scancel.log"
"""
SACCT = """#!/bin/sh
echo "sacct: error: Slurm accounting storage is disabled" >&2
exit 1
"""


class FakeSlurm:
    """A directory of fake Slurm commands and the connection that uses them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for name, text in (("sbatch", SBATCH), ("scontrol", SCONTROL), ("scancel", SCANCEL),
                           ("sacct", SACCT)):
            p = self.bin / name
            p.write_text(text)
            p.chmod(0o755)
        env = dict(os.environ, FAKE_SLURM=str(self.root),
                   PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}")
        self.conn = LocalConnection(env=env)

    def sbatch_calls(self) -> list[list[str]]:
        p = self.root / "sbatch.log"
        if not p.exists():
            return []
        return [line.split("\x1f")[:-1] for line in p.read_text().splitlines() if line]

    def scancel_calls(self) -> list[list[str]]:
        p = self.root / "scancel.log"
        return [shlex.split(x) for x in p.read_text().splitlines()] if p.exists() else []

    def set_job(self, array_id: str, lines: list[str]) -> None:
        (self.root / f"scontrol-{array_id}.txt").write_text("\n".join(lines) + "\n")


def scontrol_line(array: str, task: int, state: str, exit_code: str = "0:0",
                  reason: str = "None", name: str = "tj") -> str:
    return (f"JobId={int(array) + task + 1} ArrayJobId={array} ArrayTaskId={task} JobName={name}"
            f" UserId=u(1) JobState={state} Reason={reason} Dependency=(null) ExitCode={exit_code}"
            " RunTime=00:00:01 TimeLimit=00:01:00")
