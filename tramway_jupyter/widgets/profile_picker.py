"""A notebook picker of a run's profile (``local`` or one of ``profiles.toml``) and worker count."""

from __future__ import annotations

import html
import logging
from typing import Any

import ipywidgets as w

from ..api import load_profiles

logger = logging.getLogger(__name__)

#: The profile fields the picker shows under the dropdown (those that are set).
DESCRIBED_FIELDS = ("backend", "host", "partition", "workers", "walltime", "mem")


class ProfilePicker(w.VBox):
    """Choose a profile (from ``profiles.toml``, plus ``local``) and a number of workers."""

    def __init__(
        self,
        profiles: dict[str, Any] | None = None,
        *,
        value: str | None = None,
        workers: int | None = None,
    ) -> None:
        if profiles is None:
            try:
                profiles = load_profiles()
            except Exception as exc:  # a broken profiles file must not hide the picker
                logger.warning("cannot read profiles: %s", exc)
                profiles = {}
        self.profiles = dict(profiles)
        names = list(self.profiles) or ["local"]
        if "local" not in names:
            names.insert(0, "local")
        self.dropdown = w.Dropdown(options=names, value=value or names[0], description="Profile")
        self.workers = w.BoundedIntText(
            value=workers or 0,
            min=0,
            max=100000,
            description="Workers",
            tooltip="0: the profile's default",
        )
        self.details = w.HTML()
        self.dropdown.observe(lambda _: self._describe(), names="value")
        super().__init__([w.HBox([self.dropdown, self.workers]), self.details])
        self.add_class("tramway-profile-picker")
        self._describe()

    @property
    def value(self) -> str:
        return str(self.dropdown.value)

    @property
    def profile(self) -> Any:
        return self.profiles.get(self.value)

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``tramway_jupyter.api.run``."""
        kw: dict[str, Any] = {"profile": self.profile or self.value}
        if self.workers.value:
            kw["workers"] = int(self.workers.value)
        return kw

    def _describe(self) -> None:
        p = self.profile
        if p is None:
            self.details.value = "<small>local cores on this machine</small>"
            return
        d = p.to_dict() if hasattr(p, "to_dict") else dict(vars(p))
        keys = [k for k in DESCRIBED_FIELDS if d.get(k)]
        self.details.value = (
            "<small>" + html.escape(", ".join(f"{k}={d[k]}" for k in keys)) + "</small>"
        )
