"""A notebook view of a batch's results: the task table, filtered by state, and the per-ROI maps."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w


class ResultsView(w.VBox):
    """A batch's results: a table of tasks (filtered by state) and the per-ROI maps side by side."""

    def __init__(self, results: Any, *, name: str = "maps", variable: str = "diffusivity") -> None:
        self.results = results
        table = results.table()
        states = sorted(set(table["state"])) if len(table) else []
        self.filter = w.Dropdown(options=["all", *states], value="all", description="State")
        self.table = w.HTML()
        self.variable = w.Text(value=variable, description="Variable")
        self.record = w.Text(value=name, description="Record")
        self.plot_button = w.Button(description="Plot maps", icon="image")
        self.maps = w.Output()
        self.filter.observe(lambda _: self._draw_table(), names="value")
        self.plot_button.on_click(lambda _: self.plot())
        super().__init__(
            [
                self.filter,
                self.table,
                w.HBox([self.record, self.variable, self.plot_button]),
                self.maps,
            ]
        )
        self.add_class("tramway-results-view")
        self._draw_table()

    def _draw_table(self) -> None:
        df = self.results.table()
        if self.filter.value != "all":
            df = df[df["state"] == self.filter.value]
        cols = [
            c
            for c in ("task_id", "stage", "source", "roi_index", "state", "duration", "error")
            if c in df.columns
        ]
        self.table.value = df[cols].to_html(
            index=False, na_rep="", classes="tramway-results-table", float_format="{:.2f}".format
        )

    def plot(self) -> None:
        """Plot every ROI's map side by side (``Results.plot_maps``) into the output area."""
        from IPython.display import HTML, display

        self.maps.clear_output()
        with self.maps:
            try:
                fig = self.results.plot_maps(self.record.value, self.variable.value)
            except LookupError as exc:
                display(HTML(f"<i>{html.escape(str(exc))}</i>"))
                return
            fig = getattr(fig, "figure", fig)  # an Axes array or a Figure
            display(fig)
            try:
                import matplotlib.pyplot as plt

                plt.close(fig)
            except Exception:  # not a matplotlib figure: nothing to close
                pass
