"""A pipeline: the captured ``%%tramway`` cells of a notebook, each with its role.

Roles: ``parameters`` (the defaults; becomes papermill's ``parameters`` cell), ``setup`` (runs in
every job before the stage), ``stage NAME --per file|roi|segment [--sweep-independent]`` (a
pipeline stage: one task per data file, per ROI, or per ROI and time window; a sweep-independent
stage runs once per data unit, not once per sweep point). Re-capturing a
cell with the same role and name replaces it in place; stages keep the order of first capture.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Literal, NoReturn, cast

from ..exceptions import CaptureError

Role = Literal["parameters", "setup", "stage"]
Per = Literal["file", "roi", "segment"]
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True)
class Cell:
    role: Role
    name: str
    source: str
    per: Per = "roi"
    sweep_independent: bool = False  # one task per data unit, whatever the sweep


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # raise instead of exiting the kernel
        raise CaptureError(f"%%tramway: {message}\n{self.format_usage()}")


def _cell_parser() -> _Parser:
    p = _Parser(prog="%%tramway", add_help=False,
                description="Mark a cell as part of the tramway pipeline.")
    p.add_argument("role", choices=["parameters", "setup", "stage"])
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--per", choices=["file", "roi", "segment"], default=None,
                   help="granularity of a stage: one task per data file, per ROI (default), or "
                        "per ROI and time window (--segments)")
    p.add_argument("--sweep-independent", action="store_true",
                   help="run this stage once per data unit, not once per sweep point (its code "
                        "may not read a swept parameter)")
    return p


def parse_magic_line(line: str) -> tuple[Role, str, Per, bool]:
    """Parse the arguments of a ``%%tramway`` line into (role, name, per, sweep-independent)."""
    try:
        args = _cell_parser().parse_args(shlex.split(line))
    except ValueError as exc:
        raise CaptureError(f"%%tramway {line}: {exc}") from None
    role: Role = args.role
    if role == "stage":
        if not args.name:
            raise CaptureError("%%tramway stage needs a name, e.g. `%%tramway stage infer --per roi`")
        name = args.name
        per = args.per or "roi"
    else:
        if args.per or args.sweep_independent:
            opt = "--per" if args.per else "--sweep-independent"
            raise CaptureError(f"{opt} applies to stages, not to {role} cells")
        name = args.name or role
        per = "roi"
    if not set(name) <= _NAME_OK:
        raise CaptureError(f"%%tramway: name {name!r} may only hold letters, digits, '-' and '_'")
    return role, str(name), cast(Per, per), bool(args.sweep_independent)


@dataclass
class Pipeline:
    """The captured cells, in order."""

    cells: list[Cell] = field(default_factory=list)
    #: stage -> its last successful preview in the kernel: ``seconds`` and the inputs it ran on
    #: (``source``, ``roi_index``, ``roi_file``, ``t_start``, ``t_end``): a dry run's timing
    preview_timing: dict[str, dict[str, object]] = field(default_factory=dict, compare=False,
                                                         repr=False)

    def capture(self, line: str, source: str) -> Cell:
        """Record a ``%%tramway`` cell (replacing an earlier version of it) and return it."""
        role, name, per, independent = parse_magic_line(line)
        cell = Cell(role=role, name=name, source=source.strip("\n"), per=per,
                    sweep_independent=independent)
        for i, old in enumerate(self.cells):
            if old.role == role and (role == "parameters" or old.name == name):
                self.cells[i] = cell
                return cell
        self.cells.append(cell)
        return cell

    @property
    def parameters(self) -> Cell | None:
        return next((c for c in self.cells if c.role == "parameters"), None)

    def parameter_names(self) -> list[str] | None:
        """The names the parameters cell assigns at top level (``None``: it does not parse)."""
        if self.parameters is None:
            return []
        try:
            tree = ast.parse(self.parameters.source)
        except SyntaxError:
            return None
        names: list[str] = []

        def targets(node: ast.AST) -> None:
            if isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, (ast.Tuple, ast.List)):
                for elt in node.elts:
                    targets(elt)
            elif isinstance(node, ast.Starred):
                targets(node.value)

        for stmt in tree.body:
            if isinstance(stmt, ast.Assign):
                for t in stmt.targets:
                    targets(t)
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
                targets(stmt.target)
        return list(dict.fromkeys(names))

    @property
    def setup(self) -> list[Cell]:
        return [c for c in self.cells if c.role == "setup"]

    @property
    def stages(self) -> list[Cell]:
        return [c for c in self.cells if c.role == "stage"]

    def stage(self, name: str) -> Cell:
        for c in self.stages:
            if c.name == name:
                return c
        raise CaptureError(f"no stage named {name!r}; captured: {[c.name for c in self.stages]}")

    def validate(self) -> None:
        if not self.stages:
            raise CaptureError(
                "the pipeline has no stage: mark at least one cell with `%%tramway stage NAME`"
            )

    def digest(self) -> str:
        blob = json.dumps([c.__dict__ for c in self.cells], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def describe(self) -> str:
        if not self.cells:
            return "(no %%tramway cell captured yet)"
        lines = []
        for c in self.cells:
            head = c.role if c.role != "stage" else f"stage {c.name} (per {c.per}" + (
                ", sweep-independent)" if c.sweep_independent else ")")
            if c.role == "setup" and c.name != "setup":
                head += f" {c.name}"
            n = len(c.source.splitlines())
            first = c.source.strip().splitlines()[0] if c.source.strip() else ""
            lines.append(f"- {head}: {n} line(s)  {first[:60]}")
        return "\n".join(lines)

    @classmethod
    def from_cells(cls, items: list[tuple[str, str]]) -> Pipeline:
        """Build from ``(magic line, source)`` pairs."""
        p = cls()
        for line, src in items:
            p.capture(line, src)
        return p
