"""Ground-truth fields for simulations: diffusivity D(x, y) (µm²/s) and potential V(x, y) (kT).

Each field is callable on arrays of positions (µm), has an analytic ``gradient`` and a JSON-able
``describe()``; a plain callable is wrapped with a central-difference gradient (simulation only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Field", "Uniform", "LinearGradient", "Harmonic", "CallableField", "field_from_description",
           "diffusivity_field", "potential_field"]

Array = np.ndarray


class Field:
    """A scalar field of the plane."""

    def __call__(self, x: Array, y: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def gradient(self, x: Array, y: Array) -> tuple[Array, Array]:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Field):
    """Constant field ``value``."""

    value: float

    def __call__(self, x: Array, y: Array) -> Array:
        return np.full(np.shape(x), float(self.value))

    def gradient(self, x: Array, y: Array) -> tuple[Array, Array]:
        return np.zeros(np.shape(x)), np.zeros(np.shape(x))

    def describe(self) -> dict[str, Any]:
        return {"name": "uniform", "value": self.value}


@dataclass(frozen=True)
class LinearGradient(Field):
    """Field rising linearly from ``low`` at ``start`` to ``high`` at ``stop`` along ``axis``."""

    low: float
    high: float
    start: float
    stop: float
    axis: int = 0

    @property
    def slope(self) -> float:
        return (self.high - self.low) / (self.stop - self.start)

    def __call__(self, x: Array, y: Array) -> Array:
        c = np.asarray(x if self.axis == 0 else y, dtype=np.float64)
        return self.low + self.slope * (c - self.start)

    def gradient(self, x: Array, y: Array) -> tuple[Array, Array]:
        g = np.full(np.shape(x), self.slope)
        z = np.zeros(np.shape(x))
        return (g, z) if self.axis == 0 else (z, g)

    def describe(self) -> dict[str, Any]:
        return {"name": "gradient", "low": self.low, "high": self.high, "start": self.start,
                "stop": self.stop, "axis": "xy"[self.axis]}


@dataclass(frozen=True)
class Harmonic(Field):
    """Harmonic well ``V = k/2 |r - center|^2`` (k in kT/µm²)."""

    k: float
    cx: float
    cy: float

    def __call__(self, x: Array, y: Array) -> Array:
        return 0.5 * self.k * ((np.asarray(x) - self.cx) ** 2 + (np.asarray(y) - self.cy) ** 2)

    def gradient(self, x: Array, y: Array) -> tuple[Array, Array]:
        return self.k * (np.asarray(x) - self.cx), self.k * (np.asarray(y) - self.cy)

    def describe(self) -> dict[str, Any]:
        return {"name": "harmonic", "k": self.k, "center": [self.cx, self.cy]}


@dataclass(frozen=True)
class CallableField(Field):
    """A user function ``f(x, y) -> array``; gradient by central differences (step ``h`` µm)."""

    fn: Callable[[Array, Array], Array]
    h: float = 1e-4

    def __call__(self, x: Array, y: Array) -> Array:
        return np.asarray(self.fn(x, y), dtype=np.float64) * np.ones(np.shape(x))

    def gradient(self, x: Array, y: Array) -> tuple[Array, Array]:
        h = self.h
        gx = (self(x + h, y) - self(x - h, y)) / (2 * h)
        gy = (self(x, y + h) - self(x, y - h)) / (2 * h)
        return gx, gy

    def describe(self) -> dict[str, Any]:
        return {"name": "callable", "repr": getattr(self.fn, "__name__", repr(self.fn))}


def diffusivity_field(spec: Any, bounds: Array) -> Field:
    """Build D(x, y) from a preset name, a number, a Field or a callable.

    Presets: ``"uniform"`` (0.5 µm²/s), ``"gradient"`` (0.2 -> 1.0 µm²/s along x across the box).
    """
    if isinstance(spec, Field):
        return spec
    if isinstance(spec, int | float):
        return Uniform(float(spec))
    if spec == "uniform":
        return Uniform(0.5)
    if spec == "gradient":
        return LinearGradient(0.2, 1.0, float(bounds[0]), float(bounds[2]), axis=0)
    if callable(spec):
        return CallableField(spec)
    raise ValueError(f"unknown diffusivity {spec!r}: use 'uniform', 'gradient', a number or a "
                     "callable D(x, y)")


def potential_field(spec: Any, bounds: Array) -> Field | None:
    """Build V(x, y) from ``None``, a preset name, a Field or a callable.

    Preset: ``"harmonic"``, a well of stiffness 1 kT/µm² at the centre of the box.
    """
    if spec is None or spec == "none":
        return None
    if isinstance(spec, Field):
        return spec
    if spec == "harmonic":
        return Harmonic(1.0, float(bounds[0] + bounds[2]) / 2, float(bounds[1] + bounds[3]) / 2)
    if callable(spec):
        return CallableField(spec)
    raise ValueError(f"unknown potential {spec!r}: use None, 'harmonic' or a callable V(x, y)")


def field_from_description(desc: dict[str, Any] | None) -> Field | None:
    """The field a ``describe()`` dict (as in a simulation's ``truth.json``) stands for; None
    for a user callable (its code is not in the description) or no field."""
    if not desc:
        return None
    name = desc.get("name")
    if name == "uniform":
        return Uniform(float(desc["value"]))
    if name == "gradient":
        return LinearGradient(float(desc["low"]), float(desc["high"]), float(desc["start"]),
                              float(desc["stop"]), axis="xy".index(str(desc.get("axis", "x"))))
    if name == "harmonic":
        cx, cy = desc["center"]
        return Harmonic(float(desc["k"]), float(cx), float(cy))
    return None
