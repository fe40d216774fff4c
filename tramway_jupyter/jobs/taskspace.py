"""What a batch runs over beyond files x ROIs: time segments and parameter sweeps.

* **Segments** (``--segments DURATION[:SHIFT]``, or ``segments = ...`` in the parameters cell):
  a stage declared ``--per segment`` gets one task per file x ROI x time window. Windows are
  half-open ``[t_start, t_end)`` over the time span of each data file
  (:func:`tramway_jupyter.analysis.segments.time_windows`), or given explicitly as a list of
  ``(t_start, t_end)`` pairs.
* **Sweeps** (``--sweep NAME=V1,V2`` repeated: the product of the values; ``--sweep-file FILE``:
  a CSV or JSON list of parameter sets): every stage runs once per sweep point, except a stage
  declared ``--sweep-independent``, which runs once per data unit and may not read a swept name
  (checked on its code when the plan is made).

Values are parsed as Python literals (``0.03``, ``'hexagon'``, ``(1, 2)``); a list becomes a
tuple, so that sweep points can key results.
"""

from __future__ import annotations

import ast
import csv
import itertools
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ..exceptions import PlanError

__all__ = ["SegmentSpec", "parse_segments", "segments_from_value", "parse_sweep_options",
           "load_sweep_file", "sweep_points", "point_label", "names_read"]


class SegmentSpec(msgspec.Struct, frozen=True):
    """How to cut each file's time span into windows (``windows``: explicit ones)."""

    duration: float | None = None
    shift: float | None = None
    windows: tuple[tuple[float, float], ...] | None = None
    min_fraction: float = 0.5  # the last, partial window is kept if it covers this much

    def describe(self) -> str:
        if self.windows is not None:
            return f"{len(self.windows)} explicit window(s)"
        shift = self.shift if self.shift is not None else self.duration
        return f"windows of {self.duration:g} s every {shift:g} s"


def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise PlanError(f"--segments: {what} {text!r} is not a number of seconds") from None
    if not math.isfinite(v) or v <= 0:
        raise PlanError(f"--segments: {what} must be a positive number of seconds, got {text}")
    return v


def parse_segments(text: str, *, min_fraction: float | None = None) -> SegmentSpec:
    """``"DURATION"`` or ``"DURATION:SHIFT"`` (seconds) as a :class:`SegmentSpec`."""
    parts = text.strip().split(":")
    if len(parts) not in (1, 2) or not parts[0]:
        raise PlanError(f"--segments {text!r}: expected DURATION or DURATION:SHIFT in seconds, "
                        f"e.g. 10 or 10:5")
    duration = _number(parts[0], "DURATION")
    shift = _number(parts[1], "SHIFT") if len(parts) == 2 else None
    return _with_fraction(SegmentSpec(duration=duration, shift=shift), min_fraction)


def _with_fraction(spec: SegmentSpec, min_fraction: float | None) -> SegmentSpec:
    if min_fraction is None:
        return spec
    if not 0 < float(min_fraction) <= 1:
        raise PlanError(f"the last window's minimum fraction must be in (0, 1], got {min_fraction}")
    return msgspec.structs.replace(spec, min_fraction=float(min_fraction))


def segments_from_value(value: Any, *, min_fraction: float | None = None) -> SegmentSpec | None:
    """A spec from a Python value: ``None``; a number (duration); ``(duration, shift)``; a
    string as for ``--segments``; or a list of ``(t_start, t_end)`` windows."""
    if value is None or isinstance(value, SegmentSpec):
        return value if value is None else _with_fraction(value, min_fraction)
    if isinstance(value, str):
        return parse_segments(value, min_fraction=min_fraction)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse_segments(str(value), min_fraction=min_fraction)
    if isinstance(value, Sequence) and value and all(
            isinstance(w, Sequence) and not isinstance(w, str) for w in value):
        windows = []
        for w in value:
            if len(w) != 2:
                raise PlanError(f"segments: a window is a (t_start, t_end) pair, got {w!r}")
            a, b = float(w[0]), float(w[1])
            if not (math.isfinite(a) and math.isfinite(b)) or a >= b:
                raise PlanError(f"segments: window {w!r} must have t_start < t_end")
            windows.append((a, b))
        return _with_fraction(SegmentSpec(windows=tuple(windows)), min_fraction)
    if isinstance(value, Sequence) and len(value) == 2:
        return parse_segments(f"{value[0]}:{value[1]}", min_fraction=min_fraction)
    raise PlanError(f"segments = {value!r}: expected a duration, (duration, shift) or a list of "
                    f"(t_start, t_end) windows")


def _literal(text: str) -> Any:
    """A Python literal, or the text itself when it is not one (``hexagon``)."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text.strip()
    return _hashable(value)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        raise PlanError(f"a swept value may not be a dict: {value!r}")
    return value


def _split_values(text: str) -> list[str]:
    """Split ``V1,V2`` at the commas that are not inside brackets or quotes."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return out


def parse_sweep_options(options: Iterable[str]) -> dict[str, list[Any]]:
    """``["sigma=0.02,0.03", "mode='d','dd'"]`` -> ``{"sigma": [0.02, 0.03], ...}``."""
    sweep: dict[str, list[Any]] = {}
    for opt in options:
        name, sep, values = opt.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise PlanError(f"--sweep {opt!r}: expected NAME=V1,V2,... (a parameter name, then "
                            f"values separated by commas)")
        if name in sweep:
            raise PlanError(f"--sweep {name} is given twice")
        vals = [_literal(v) for v in _split_values(values) if v.strip()]
        if not vals:
            raise PlanError(f"--sweep {opt!r}: no value")
        sweep[name] = list(dict.fromkeys(vals))
    return sweep


def load_sweep_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Parameter sets from a JSON list of objects or a CSV file with a header row."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8", newline="") as fh:
            if p.endswith(".json"):
                data = json.load(fh)
            else:
                data = [{k: _literal(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    except OSError as exc:
        raise PlanError(f"--sweep-file {p}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise PlanError(f"--sweep-file {p}: not valid JSON ({exc})") from None
    if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
        raise PlanError(f"--sweep-file {p}: expected a non-empty list of parameter sets "
                        f"(a JSON list of objects, or a CSV with a header row)")
    names = list(data[0])
    for i, d in enumerate(data):
        if list(d) != names and set(d) != set(names):
            raise PlanError(f"--sweep-file {p}: set {i} has parameters {sorted(d)}, the first "
                            f"has {sorted(names)}; every set must name the same parameters")
        for k in d:
            if not isinstance(k, str) or not k.isidentifier():
                raise PlanError(f"--sweep-file {p}: {k!r} is not a parameter name")
    return [{k: _hashable(d[k]) for k in names} for d in data]


def sweep_points(sweep: Mapping[str, Sequence[Any]] | None = None,
                 listed: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The sweep points: the product of ``sweep``'s values, times each set of ``listed``;
    ``[{}]`` when there is no sweep."""
    sweep = dict(sweep or {})
    for name, values in sweep.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise PlanError(f"sweep {name}: expected a list of values, got {values!r}")
    names = list(sweep)
    product = [dict(zip(names, combo, strict=True))
               for combo in itertools.product(*[[_hashable(v) for v in sweep[n]] for n in names])]
    sets = [dict(d) for d in (listed or [{}])]
    clash = set(names) & set(sets[0])
    if clash:
        raise PlanError(f"{sorted(clash)} both swept and in the sweep file")
    points = [{**a, **b} for b in sets for a in product]
    seen: list[dict[str, Any]] = []
    for pt in points:
        if pt not in seen:
            seen.append(pt)
    return seen


def point_label(point: Mapping[str, Any]) -> str:
    """``sigma=0.02, mode='d'``: a sweep point for listings."""
    return ", ".join(f"{k}={v!r}" for k, v in point.items())


def names_read(source: str) -> set[str]:
    """The names a cell's code reads (loads) at any depth; an unparsable cell reads none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
