"""ROI files, roi_file_for and crop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tramway_jupyter.analysis import crop, read_rois, roi_file_for, translocations, write_rois
from tramway_jupyter.exceptions import DataFormatError


def test_roi_file_for():
    assert roi_file_for("d/X.rpt.txt").as_posix() == "d/X.rpt-roi.txt"
    assert roi_file_for("X.txt", suffix="_roi.txt").as_posix() == "X_roi.txt"


def test_bounds_roundtrip_and_layout(tmp_path):
    b = np.array([[0, 0, 5, 5], [4.5, 1.25, 9.123456, 6]])
    path = write_rois(b, tmp_path / "X.rpt-roi.txt")
    lines = path.read_text().splitlines()
    assert lines[0] == "x min\ty min\tx max\ty max"
    assert lines[2] == "4.5000\t1.2500\t9.1235\t6.0000"
    np.testing.assert_allclose(read_rois(path), b, atol=5e-5)


def test_time_bounds_roundtrip(tmp_path):
    b = np.array([[0, 0, 5, 5]])
    path = write_rois(b, tmp_path / "r.txt", time_bounds=[[1, 2]])
    assert path.read_text().splitlines()[0] == "x min\ty min\tt min\tx max\ty max\tt max"
    bb, tb = read_rois(path, return_time=True)
    np.testing.assert_allclose(bb, b)
    np.testing.assert_allclose(tb, [[1, 2]])


def test_centres_layout(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("x\ty\n1\t2\n5\t5\n")
    np.testing.assert_allclose(read_rois(path, size=2), [[0, 1, 2, 3], [4, 4, 6, 6]])
    with pytest.raises(ValueError, match="size="):
        read_rois(path)


@pytest.mark.parametrize("text, words, line", [
    ("x min\ty min\tx max\ty max\n0\t0\t1\tfoo\n", "non-numeric value 'foo'", 2),
    ("a\tb\n1\t2\n", "unknown ROI header", 1),
    ("x min\ty min\tx max\ty max\n", "no ROI", 2),
    ("", "empty ROI file", 1),
    ("x min\ty min\tx max\ty max\n0\t0\t1\t1\n3\t3\t2\t4\n", "empty ROI", 3),
])
def test_bad_roi_files(tmp_path, text, words, line):
    path = tmp_path / "bad-roi.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError) as exc:
        read_rois(path)
    assert "bad-roi.txt" in str(exc.value) and words in str(exc.value)
    assert f"line {line}" in str(exc.value)


def _excursion_df():
    # trajectory 7 leaves the box [0,0,2,2] at row 2 and comes back at row 4
    x = [0.5, 1.0, 3.0, 3.5, 1.5, 1.6, 0.1, 0.2]
    return pd.DataFrame({"n": [7, 7, 7, 7, 7, 7, 9, 9], "x": x, "y": [1.0] * 8,
                         "t": [0, .1, .2, .3, .4, .5, 0, .1]})


def test_crop_splits_excursions():
    out = crop(_excursion_df(), [0, 0, 2, 2])
    assert out["n"].tolist() == [1, 1, 2, 2, 3, 3]
    tr = translocations(out)
    assert np.all(np.abs(tr["dx"]) < 1.0)  # no translocation across the excursion
    assert len(tr) == 3


def test_crop_from_file_and_index_errors(tmp_path):
    path = write_rois([[0, 0, 2, 2], [2, 0, 4, 2]], tmp_path / "X.rpt-roi.txt")
    out = crop(_excursion_df(), path, index=1)
    assert out["x"].tolist() == [3.0, 3.5]
    with pytest.raises(IndexError) as exc:
        crop(_excursion_df(), path, index=5)
    assert "X.rpt-roi.txt" in str(exc.value) and "2 ROI" in str(exc.value)
    with pytest.raises(ValueError, match="pass index"):
        crop(_excursion_df(), path)


def test_crop_time_bounds(tmp_path):
    path = write_rois([[0, 0, 2, 2]], tmp_path / "r.txt", time_bounds=[[0.05, 0.45]])
    out = crop(_excursion_df(), path, index=0)
    assert out["t"].min() >= 0.05 and out["t"].max() <= 0.45


def test_crop_does_not_mutate(small_df):
    before = small_df.copy()
    crop(small_df, [0, 0, 2.5, 2.5])
    pd.testing.assert_frame_equal(small_df, before)


def test_crop_without_rois_is_the_whole_file():
    # a data file without ROI file is one task with roi_file and roi_index None
    df = _excursion_df()
    assert crop(df, None) is df
    assert crop(df, None, index=None) is df
    with pytest.raises(ValueError, match="ROI index 2 given without ROIs"):
        crop(df, None, index=2)
