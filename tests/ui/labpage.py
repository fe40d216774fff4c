"""Page object for JupyterLab + the TRamWAy sidebar (keeps selectors out of the tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

SIDEBAR_ID = "tramway-jobs"


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
    }
    path.write_text(json.dumps(nb))


class LabPage:
    def __init__(self, page: Page, lab: dict[str, Any]) -> None:
        self.page = page
        self.lab = lab

    # -- lab ------------------------------------------------------------------------
    def goto(self, path: str = "lab") -> None:
        sep = "&" if "?" in path else "?"
        self.page.goto(f"{self.lab['base']}/{path}{sep}token={self.lab['token']}&reset")
        expect(self.sidebar_tab).to_be_visible(timeout=60_000)

    def set_theme(self, theme: str) -> None:
        """Set the theme through the settings API (applies at the next page load)."""
        r = self.page.request.put(
            f"{self.lab['base']}/lab/api/settings/@jupyterlab/apputils-extension:themes",
            data={"raw": json.dumps({"theme": theme})},
            headers={"Authorization": f"token {self.lab['token']}"},
        )
        assert r.ok, r.status

    @property
    def sidebar_tab(self) -> Locator:
        return self.page.locator(f'.jp-SideBar li[data-id="{SIDEBAR_ID}"]')

    @property
    def sidebar(self) -> Locator:
        return self.page.locator(f"#{SIDEBAR_ID}")

    def open_sidebar(self) -> Locator:
        if not self.sidebar.is_visible():
            self.sidebar_tab.click()
        expect(self.sidebar).to_be_visible()
        return self.sidebar

    def set_sidebar_width(self, width: int) -> None:
        """Drag the splitter between the left panel and the main area until the left panel is
        ``width`` px wide (as a user narrows it)."""
        left = self.page.locator("#jp-left-stack")
        handle = self.page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
        box, hbox = left.bounding_box(), handle.bounding_box()
        assert box and hbox
        y = hbox["y"] + hbox["height"] / 2
        self.page.mouse.move(hbox["x"] + hbox["width"] / 2, y)
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + width + hbox["width"] / 2, y, steps=5)
        self.page.mouse.up()
        self.page.wait_for_function(
            f"Math.abs(document.querySelector('#jp-left-stack').offsetWidth - {width}) <= 4"
        )

    def overflow_x(self, locator: Locator) -> int:
        """How many px the element's content is wider than its box (0: no horizontal overflow)."""
        return locator.evaluate("e => e.scrollWidth - e.clientWidth")

    def batch(self, name: str) -> Locator:
        return self.sidebar.locator(".jp-TramwayBatch").filter(
            has=self.page.locator(".jp-TramwayBatch-name", has_text=re.compile(f"^{name}$"))
        )

    def toast(self, text: str | re.Pattern[str], kind: str = "") -> Locator:
        """A JupyterLab notification toast (``kind``: success, error, warning, info)."""
        cls = f".jp-Notification-Toast-{kind}" if kind else ".Toastify__toast"
        return self.page.locator(f".jp-toastContainer {cls}", has_text=text)

    # -- notebooks ------------------------------------------------------------------
    def open_notebook(self, name: str, cells: list[str]) -> None:
        write_notebook(self.lab["root"] / name, cells)
        self.goto(f"lab/tree/{name}")
        expect(
            self.page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"ipykernel\) \| Idle"))
        ).to_be_visible(timeout=60_000)

    def run_cells(self, n: int) -> None:
        """Run the first ``n`` cells with Shift+Enter from the first one."""
        self.page.locator(".jp-NotebookPanel .jp-Cell").first.locator(
            ".jp-InputArea-editor"
        ).click()
        for _ in range(n):
            self.page.keyboard.press("Shift+Enter")

    def cell_output(self, index: int) -> Locator:
        return (
            self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            .nth(index)
            .locator(".jp-OutputArea-output")
        )
