"""Trajectory files: round trips, header/index detection and every malformed-input error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tramway_jupyter.analysis import read_trajectories, write_trajectories
from tramway_jupyter.exceptions import DataFormatError


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    np.testing.assert_array_equal(a["n"].to_numpy(), b["n"].to_numpy())
    for c in a.columns[1:]:
        np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("header", [False, True])
def test_roundtrip_2d(tmp_path, small_df, header):
    path = write_trajectories(small_df, tmp_path / "a.rpt.txt", header=header)
    back = read_trajectories(path)
    _same(small_df, back)
    assert back["n"].dtype == np.int64


@pytest.mark.parametrize("header", [False, True])
def test_roundtrip_3d(tmp_path, small_df, header):
    df = small_df.assign(z=np.linspace(-1, 1, len(small_df)))[["n", "x", "y", "z", "t"]]
    back = read_trajectories(write_trajectories(df, tmp_path / "a.txt", header=header))
    _same(df, back)


def test_index_column_with_header(tmp_path, small_df):
    path = tmp_path / "idx.txt"
    small_df.to_csv(path, sep="\t", index=True)  # header "n x y t" over 5 columns
    _same(small_df, read_trajectories(path))


def test_index_column_without_header(tmp_path, small_df):
    path = tmp_path / "idx.txt"
    small_df.to_csv(path, sep="\t", index=True, header=False)
    _same(small_df, read_trajectories(path))


def test_columns_override_and_whitespace(tmp_path):
    path = tmp_path / "t.trxyt"
    path.write_text("1  0.5 \t1.5   0.0\n1 0.6 1.4 0.05\n\n2 3 3 1\n")
    df = read_trajectories(path, columns=["n", "x", "y", "t"])
    assert df.shape == (3, 4) and df["n"].tolist() == [1, 1, 2]


def test_non_contiguous_trajectories_are_regrouped(tmp_path, caplog):
    path = tmp_path / "nc.txt"
    path.write_text("1 0 0 0\n2 5 5 0\n1 1 0 0.1\n2 5 6 0.1\n")
    df = read_trajectories(path)
    assert df["n"].tolist() == [1, 1, 2, 2]
    assert df["x"].tolist() == [0, 1, 5, 5]
    assert "not contiguous" in caplog.text


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("1 0 0 0\n1 1 1 0.1\n1 2 2 0.2 9\n", 3, "expected 4 columns, found 5"),
        ("1 0 0 0\n1 1 1\n1 2 2 0.2\n", 2, "missing value"),
        ("1 0 0 0\n\n1 1 abc 0.1\n", 3, "non-numeric value 'abc'"),
        ("n x y t\n1 0 0 0\n1 1 1 0.1\n1 1 1 0.05\n", 4, "time does not increase"),
        ("1 0 0 0\n1 1 1 0.1\n1 1 1 0.1\n", 3, "time does not increase"),
        ("", 1, "empty file"),
        ("\n  \n", 1, "empty file"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad.rpt.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError) as exc:
        read_trajectories(path)
    msg = str(exc.value)
    assert "bad.rpt.txt" in msg and f"line {line}" in msg and words in msg
    assert exc.value.line == line


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_trajectories(tmp_path / "nope.txt")


def test_header_without_required_columns(tmp_path):
    path = tmp_path / "h.txt"
    path.write_text("a b c d\n1 2 3 4\n")
    with pytest.raises(DataFormatError, match="missing column"):
        read_trajectories(path)


def test_write_requires_columns(tmp_path):
    with pytest.raises(ValueError, match="lacks column"):
        write_trajectories(pd.DataFrame({"x": [1.0]}), tmp_path / "x.txt")


def test_large_file_is_fast(tmp_path):
    import time

    n = 200_000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"n": np.repeat(np.arange(n // 10), 10), "x": rng.random(n),
                       "y": rng.random(n), "t": np.tile(np.arange(10) * 0.05, n // 10)})
    path = write_trajectories(df, tmp_path / "big.txt")
    t0 = time.perf_counter()
    back = read_trajectories(path)
    assert len(back) == n
    assert time.perf_counter() - t0 < 2.0  # ~0.05 s here; generous bound for slow CI


def test_non_contiguous_with_huge_ids(tmp_path):
    path = tmp_path / "nc.txt"
    path.write_text("900000000000 0 0 0\n5 5 5 0\n900000000000 1 0 0.1\n5 5 6 0.1\n")
    df = read_trajectories(path)
    assert df["n"].tolist() == [900000000000, 900000000000, 5, 5]
