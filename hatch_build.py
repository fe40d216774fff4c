"""Build hook: write the sidebar's TypeScript types from the REST payloads' JSON schema
(``tramway_jupyter.server.schema``) before the JupyterLab extension is compiled, so that the
bundle is always built against the payloads of the same source. The generated file is also
checked in (tests/server/test_payload_schema.py fails when it drifts)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class PayloadTypesHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        sys.path.insert(0, self.root)
        try:
            from tramway_jupyter.server import schema

            target = Path(self.root) / schema.TS_PATH
            text = schema.render()
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                self.app.display_info(f"wrote {schema.TS_PATH}")
        finally:
            sys.path.remove(self.root)
