"""The REST payloads: the TypeScript types generated from them, and the replies fit them."""

from __future__ import annotations

import typing
from pathlib import Path

import msgspec
import pytest

from tramway_jupyter.jobs.store import TASK_SORT_KEYS
from tramway_jupyter.server import payloads, schema

REPO = Path(__file__).resolve().parents[2]


def test_the_checked_in_typescript_types_are_generated_from_the_payloads():
    path = REPO / schema.TS_PATH
    assert path.read_text(encoding="utf-8") == schema.render(), (
        f"{schema.TS_PATH} differs from the payloads in tramway_jupyter/server/payloads.py: "
        f"run `{schema.COMMAND}` from the repository root and commit the file"
    )


def test_the_check_option_says_what_to_run(tmp_path, capsys):
    out = tmp_path / "api-types.ts"
    assert schema.main([str(out), "--check"]) == 1
    assert schema.COMMAND in capsys.readouterr().err
    assert schema.main([str(out)]) == 0 and schema.main([str(out), "--check"]) == 0
    out.write_text(out.read_text().replace("task_id: string;", "task_id: number;", 1))
    assert schema.main([str(out), "--check"]) == 1


class Color(msgspec.Struct):
    """A doc.

    Two lines, ``code``."""

    name: typing.Literal["red", "green"]
    tags: list[str | None]
    by: dict[str, int]
    extra: typing.Any = None
    inner: Color | None = None


def test_the_emitter_on_nullable_unions_maps_refs_and_docs(monkeypatch):
    monkeypatch.setattr(schema, "PAYLOADS", (Color,))
    text = schema.render().split("\n\n/** Every state")[0] + "\n"
    assert text.endswith(
        "\n/**\n * A doc.\n *\n * Two lines, `code`.\n */\nexport interface Color {\n"
        "  name: 'green' | 'red';\n  tags: (string | null)[];\n  by: Record<string, number>;\n"
        "  extra: unknown;\n  inner: Color | null;\n}\n"), text


def test_sort_keys_are_the_stores():
    detail_sort = typing.get_type_hints(payloads.BatchDetail)["sort"]
    assert set(typing.get_args(detail_sort)) == set(TASK_SORT_KEYS)


async def _decode(jp_fetch, payload, *path, **kw):
    r = await jp_fetch("tramway", "api", *path, **kw)
    assert r.code == 200 and r.headers["Content-Type"].startswith("application/json")
    # strict: the reply is exactly of the payload's types (no str where a number is said)
    return msgspec.json.decode(r.body, type=payload, strict=True)


@pytest.mark.parametrize("payload, path", [
    (payloads.BatchList, ("batches",)),
    (payloads.BatchDetail, ("batches", "b-mixed")),
    (payloads.BatchCounts, ("batches", "b-mixed", "counts")),
    (payloads.JobPage, ("batches", "b-mixed", "jobs")),
    (payloads.TaskDetail, ("batches", "b-mixed", "tasks", "infer-sim0-r1")),
    (payloads.TaskLog, ("batches", "b-mixed", "tasks", "infer-sim0-r0", "log")),
])
async def test_every_reply_fits_its_payload(jp_fetch, payload, path):
    got = await _decode(jp_fetch, payload, *path)
    if isinstance(got, payloads.TaskDetail):
        assert got.status is not None and got.status.error is not None
        assert got.status.error.ename == "ValueError"


def test_generated_state_lists_follow_jobs_states():
    from tramway_jupyter.jobs.states import ACTIVE_STATES, RETRYABLE_STATES, State

    text = schema.render()
    assert "export const STATES: State[] = [\n" + "".join(
        f"  '{s.value}',\n" for s in State).rstrip(",\n") + "\n];" in text
    active = ", ".join(f"'{s.value}'" for s in State if s in ACTIVE_STATES)
    retry = ", ".join(f"'{s.value}'" for s in State if s in RETRYABLE_STATES)
    assert f"export const ACTIVE_STATES: State[] = [{active}];" in text
    assert f"export const RETRYABLE_STATES: State[] = [{retry}];" in text
