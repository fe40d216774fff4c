"""The output collector: linear, bounded, exact counts, a complete log."""

from __future__ import annotations

import argparse
import re
import time
import tracemalloc

import pytest

from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.exceptions import ProfileError
from tramway_jupyter.jobs.outputs import OutputCollector, parse_size
from tramway_jupyter.jobs.plan_model import Plan
from tramway_jupyter.run_options import add_run_options, run_kwargs

MARKER = re.compile(r"\.\.\. \[tramway-jupyter: ([0-9,]+) lines / ([0-9,]+) bytes \([^)]*\) omitted"
                    r"[^\]]*full text in (\S+)\] \.\.\.\n")


def split_marker(text: str) -> tuple[str, int, int, str]:
    """(head, omitted lines, omitted bytes, tail) of an output text holding one marker."""
    m = MARKER.search(text)
    assert m, text[:300]
    return (text[:m.start()], int(m.group(1).replace(",", "")), int(m.group(2).replace(",", "")),
            text[m.end():])


def collector(tmp_path, **kw) -> OutputCollector:
    return OutputCollector(tmp_path / "logs" / "task-t.log", log_name="logs/task-t.log", **kw)


def test_small_output_kept_whole_and_logged(tmp_path):
    c = collector(tmp_path, max_bytes=1000)
    outs = c.begin_cell()
    c.stream("stdout", "hello\n")
    c.stream("stderr", "warn\n")
    c.stream("stdout", "bye")
    c.end_cell()
    c.finish()
    assert [(o["name"], o["text"]) for o in outs] == [
        ("stdout", "hello\n"), ("stderr", "warn\n"), ("stdout", "bye")]
    assert (tmp_path / "logs" / "task-t.log").read_bytes() == b"hello\nwarn\nbye"
    assert c.log_written


def test_silent_task_writes_no_log(tmp_path):
    c = collector(tmp_path)
    outs = c.begin_cell()
    c.rich({"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {}})
    c.end_cell()
    c.finish()
    assert len(outs) == 1 and not c.log_written
    assert not (tmp_path / "logs").exists()


def test_big_output_head_tail_marker_exact(tmp_path):
    budget = 10_000
    c = collector(tmp_path, max_bytes=budget)
    outs = c.begin_cell()
    printed = []
    for i in range(20_000):  # numbered lines of varying length, written in odd pieces
        line = f"line {i} " + "é" * (i % 7) + "\n"
        printed.append(line)
        c.stream("stdout", line[:3])
        c.stream("stdout", line[3:])
    c.end_cell()
    c.finish()
    whole = "".join(printed)
    log = (tmp_path / "logs" / "task-t.log").read_bytes()
    assert log == whole.encode()
    assert len(outs) == 1
    head, lines, nbytes, tail = split_marker(outs[0]["text"])
    assert whole.startswith(head) and whole.endswith(tail)
    assert head.endswith("\n") and head.startswith("line 0 ")
    assert tail.startswith("line ") and tail.endswith("line 19999 " + "é" * (19999 % 7) + "\n")
    assert nbytes == len(log) - len(head.encode()) - len(tail.encode())
    assert lines == 20_000 - head.count("\n") - tail.count("\n")
    assert budget * 0.8 < len(head.encode()) + len(tail.encode()) <= budget


def test_head_and_tail_span_cells(tmp_path):
    """Setup output stays (head), the last cell's output stays (tail), the middle is omitted."""
    c = collector(tmp_path, max_bytes=4000)
    setup = c.begin_cell()
    c.stream("stdout", "setup done\n")
    c.end_cell()
    middle = []
    for k in range(5):
        middle.append(c.begin_cell())
        for i in range(300):
            c.stream("stdout" if i % 2 else "stderr", f"cell {k} step {i}\n")
        c.end_cell()
    last = c.begin_cell()
    c.stream("stdout", "summary: ok\n")
    c.end_cell()
    c.finish()
    assert setup[0]["text"] == "setup done\n"
    assert last[0]["text"] == "summary: ok\n"
    # a fully omitted cell shows one marker, not 300 outputs
    assert len(middle[2]) == 1 and MARKER.fullmatch(middle[2][0]["text"])
    _, lines, nbytes, _ = split_marker(middle[2][0]["text"])
    assert lines == 300 and nbytes == sum(len(f"cell 2 step {i}\n") for i in range(300))
    kept = sum(len(o["text"]) for outs in [setup, *middle, last] for o in outs
               if not MARKER.search(o["text"]))
    assert kept < 4000
    omitted = sum(split_marker(o["text"])[2] for outs in middle for o in outs
                  if MARKER.search(o["text"]))
    shown = sum(len(MARKER.sub("", o["text"]).encode()) for outs in [setup, *middle, last]
                for o in outs)
    assert omitted + shown == len((tmp_path / "logs" / "task-t.log").read_bytes())


def test_memory_bounded_over_200_mb(tmp_path):
    c = collector(tmp_path)
    outs = c.begin_cell()
    chunk = ("y" * 1023 + "\n") * 1024  # 1 MiB
    tracemalloc.start()
    t0 = time.perf_counter()
    for i in range(200):
        c.stream("stdout" if i % 3 else "stderr", chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    elapsed = time.perf_counter() - t0
    c.end_cell()
    c.finish()
    assert peak < 4 * 2**20, peak  # the chunk's bytes + head + tail, never the 200 MiB
    assert elapsed < 10
    assert (tmp_path / "logs" / "task-t.log").stat().st_size == 200 * 2**20
    assert c.bytes_written == 200 * 2**20
    assert sum(len(o["text"]) for o in outs) < 300_000


def test_many_alternating_outputs_stay_few(tmp_path):
    c = collector(tmp_path, max_bytes=2000)
    outs = c.begin_cell()
    for i in range(100_000):
        c.stream("stdout" if i % 2 else "stderr", "x\n")
    c.end_cell()
    c.finish()
    assert len(outs) < 100
    total = sum(split_marker(o["text"])[2] if MARKER.search(o["text"]) else 0 for o in outs)
    shown = sum(len(MARKER.sub("", o["text"])) for o in outs)
    assert total + shown == 200_000


def test_unlimited_keeps_everything(tmp_path):
    c = collector(tmp_path, max_bytes=0)
    outs = c.begin_cell()
    for _ in range(1000):
        c.stream("stdout", "z" * 999 + "\n")
    c.end_cell()
    c.finish()
    assert outs[0]["text"] == ("z" * 999 + "\n") * 1000


def test_utf8_cut_inside_one_long_line(tmp_path):
    c = collector(tmp_path, max_bytes=1001)
    outs = c.begin_cell()
    text = "αβγ" * 10_000  # no newline at all
    c.stream("stdout", text)
    c.end_cell()
    c.finish()
    head, lines, nbytes, tail = split_marker(outs[0]["text"])
    assert text.startswith(head.rstrip("\n")) and text.endswith(tail)
    assert lines == 0
    assert nbytes == len(text.encode()) - len(head.rstrip("\n").encode()) - len(tail.encode())


def test_rich_outputs_bounded_by_count_and_bytes(tmp_path):
    c = collector(tmp_path, max_rich=3, max_rich_bytes=10_000)
    outs = c.begin_cell()
    for _ in range(10):
        c.rich({"output_type": "display_data", "data": {"image/png": "A" * 1000}, "metadata": {}})
    c.stream("stdout", "done\n")
    c.rich({"output_type": "display_data", "data": {"text/html": "B" * 20_000}, "metadata": {}})
    c.end_cell()
    c.finish()
    images = [o for o in outs if o["output_type"] == "display_data"]
    assert len(images) == 3
    markers = [o for o in outs if "not kept" in o.get("text", "")]
    assert len(markers) == 1 and "8 rich output(s)" in markers[0]["text"]
    c2 = collector(tmp_path, max_rich=100, max_rich_bytes=2500)
    outs2 = c2.begin_cell()
    for _ in range(5):
        c2.rich({"output_type": "display_data", "data": {"image/png": "A" * 1000}, "metadata": {}})
    c2.end_cell()
    c2.finish()
    assert sum(o["output_type"] == "display_data" for o in outs2) == 2
    assert "3 rich output(s)" in outs2[-1]["text"]


def test_clear_output_gives_back_rich_budget(tmp_path):
    c = collector(tmp_path, max_rich=2)
    outs = c.begin_cell()
    for i in range(50):  # an animation: clear, then show the next frame
        c.clear()
        c.stream("stdout", f"frame {i}\n")
        c.rich({"output_type": "display_data", "data": {"text/plain": f"img {i}"}, "metadata": {}})
    c.end_cell()
    c.finish()
    assert [o.get("text") or o["data"]["text/plain"] for o in outs] == ["frame 49\n", "img 49"]
    assert (tmp_path / "logs" / "task-t.log").read_text().count("frame") == 50


@pytest.mark.parametrize("text,value", [("262144", 262144), ("200k", 204800), ("1M", 2**20),
                                        ("1.5MB", 3 * 2**19), ("2GiB", 2 * 2**30), ("0", 0)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1X", "lots"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_plan_round_trip_and_old_plans():
    plan = Plan(batch_id="b", stages=(), tasks=(), jobs=(), max_output_bytes=1000,
                max_rich_outputs=7, max_rich_bytes=99)
    again = Plan.from_json(plan.to_json())
    assert (again.max_output_bytes, again.max_rich_outputs, again.max_rich_bytes) == (1000, 7, 99)
    old = plan.to_json()
    for k in ("max_output_bytes", "max_rich_outputs", "max_rich_bytes"):
        del old[k]
    assert Plan.from_json(old).max_output_bytes == 256 * 1024


def test_profile_key_and_run_option():
    assert Profile(max_output="1M").max_output == 2**20
    assert Profile().max_output == 256 * 1024
    with pytest.raises(ProfileError, match="max_output"):
        Profile(max_output="much")
    p = argparse.ArgumentParser()
    add_run_options(p)
    assert run_kwargs(p.parse_args(["--max-output", "200k"]))["max_output"] == 204800
    assert run_kwargs(p.parse_args([]))["max_output"] is None
    assert "256.0 KB" in p.format_help()
    with pytest.raises(SystemExit):
        p.parse_args(["--max-output", "big"])


def test_output_before_any_cell_opens_one():
    c = OutputCollector(max_bytes=100)
    c.stream("stdout", "early\n")
    c.finish()
    assert c.cell_outputs() == [{"output_type": "stream", "name": "stdout", "text": "early\n"}]
