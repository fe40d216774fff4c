"""What the command line prints about a batch's tasks: state counts, and a table of every task
of a small batch or a summary of a big one (counts per stage x state, the first failures, the
first rows, and the command that shows the rest).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from ..jobs.states import ACTIVE_STATES, LISTING_ORDER, RETRYABLE_STATES, SUMMARY_ORDER

#: A batch of more tasks than this is shown as a summary (``--all``: every row).
SUMMARY_OVER = 50
#: Failures and first rows shown by a summary.
SUMMARY_FAILURES = 10
SUMMARY_ROWS = 20

ACTIVE_VALUES = tuple(s.value for s in SUMMARY_ORDER if s in ACTIVE_STATES)
_NOT_OK = tuple(s.value for s in SUMMARY_ORDER if s in RETRYABLE_STATES)
_STATE_ORDER = tuple(s.value for s in LISTING_ORDER)


def human_out(json_path: str | None) -> TextIO:
    """Where lines for people go: stderr when stdout carries JSON."""
    return sys.stderr if json_path == "-" else sys.stdout


def counts_text(counts: dict[str, int], sep: str = " ") -> str:
    keys = [s for s in _STATE_ORDER if counts.get(s)] + sorted(set(counts) - set(_STATE_ORDER))
    return ", ".join(f"{s}{sep}{counts[s]}" for s in keys if counts.get(s))


def _stage_table(results: Any, out: TextIO) -> None:
    by_stage = results.stage_counts()
    states = [s for s in _STATE_ORDER if any(c.get(s) for c in by_stage.values())]
    w = max([len("stage"), *(len(s) for s in by_stage)])
    print(f"  {'stage':<{w}}  " + "  ".join(f"{s:>9}" for s in states), file=out)
    for stage, c in by_stage.items():
        print(f"  {stage:<{w}}  " + "  ".join(f"{c.get(s, 0):>9}" for s in states), file=out)


def print_tasks(results: Any, out: TextIO, fmt: Any, *, command: str, show_all: bool,
                 states: list[str] | None = None) -> None:
    """Every task of a small batch (or with ``show_all``); a summary of a big one."""
    counts = results.counts
    n = sum(counts.values()) if states is None else sum(counts.get(s, 0) for s in states)
    first = results.head(SUMMARY_OVER if n <= SUMMARY_OVER or show_all else SUMMARY_ROWS,
                         states=states)
    w = max((len(r.task_id) for r in first), default=4)
    if n <= SUMMARY_OVER or show_all:
        rows = first if n <= len(first) else results.iter_rows(states=states)
        for r in rows:
            print(fmt(r, w), file=out)
        return
    bid = results.batch_id
    if states is None:
        _stage_table(results, out)
        n_bad = sum(counts.get(s, 0) for s in _NOT_OK)
        if n_bad:
            bad = results.head(SUMMARY_FAILURES, states=_NOT_OK)
            print(f"  not done: {n_bad} task(s)"
                  + (f"; the first {len(bad)}:" if n_bad > len(bad) else ":"), file=out)
            bw = max(len(r.task_id) for r in bad)
            for r in bad:
                print(f"    {r.task_id:<{bw}}  {r.state:<9} {r.error_summary}", file=out)
            if n_bad > len(bad):
                print(f"    ... {n_bad - len(bad)} more: tramway-jupyter status {bid} "
                      f"--state {','.join(_NOT_OK)} --all", file=out)
            print(f"    a task's full error: tramway-jupyter status {bid} --task TASK_ID",
                  file=out)
        print(f"  the first {len(first)} task(s):", file=out)
    for r in first:
        print(fmt(r, w), file=out)
    more = " ".join(["tramway-jupyter", command, bid, *(["--state", ",".join(states)]
                                                        if states else []), "--all"])
    print(f"  ... {n - len(first)} more task(s): {more}", file=out)


def result_row(r: Any, w: int) -> str:
    from ..jobs.results import Results

    return str(Results.format_row(r, w))


def status_row(r: Any, w: int) -> str:
    from ..jobs.results import where_in_space

    err = r.error_summary if r.state != "done" else ""
    return (f"  {r.task_id:<{w}} {r.state:<9} attempt {r.attempt}{where_in_space(r)}"
            + (f"  {err}" if err else ""))
