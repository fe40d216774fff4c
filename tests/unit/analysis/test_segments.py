"""Time segments: window boundaries, the last partial window, crop_time, and the time plots."""

from __future__ import annotations

import base64
import io
import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageSequence

from tramway_jupyter.analysis import (
    Maps,
    animate_maps,
    check_windows,
    crop_time,
    plot_map_series,
    plot_over_time,
    tessellate,
    time_span,
    time_windows,
    translocations,
)


def members(windows, t):
    """Indices of the windows that contain time t (half-open)."""
    return [i for i, (s, e) in enumerate(windows) if s <= t < e]


# --- time_windows ---------------------------------------------------------------------------

def test_boundary_is_in_the_next_window_only():
    w = time_windows(0.0, 1.0, 0.1)
    for k in range(len(w) - 1):
        assert w[k][1] == w[k + 1][0]  # shared exactly, not within an ulp
        assert members(w, w[k][1]) == [k + 1]
    df = pd.DataFrame({"n": [4, 4, 4, 4], "x": [0.0, 1, 2, 3], "y": 0.0,
                       "t": [0.22, 0.26, w[3][0], 0.33]})
    assert crop_time(df, *w[2])["t"].tolist() == [0.22, 0.26]
    assert crop_time(df, *w[3])["t"].tolist() == [w[3][0], 0.33]


def test_overlapping_windows_share_a_localization():
    w = time_windows(0.0, 20.0, 10.0, 5.0)
    assert w == [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 25.0)]
    assert members(w, 10.0) == [1, 2]
    assert members(w, 4.999) == [0]
    df = pd.DataFrame({"n": [1, 1, 1], "x": 0.0, "y": 0.0, "t": [9.0, 10.0, 11.0]})
    assert crop_time(df, *w[0])["t"].tolist() == []  # 9.0 alone: no translocation
    assert crop_time(df, *w[1])["t"].tolist() == [9.0, 10.0, 11.0]
    assert crop_time(df, *w[2])["t"].tolist() == [10.0, 11.0]


def test_t_max_on_a_boundary():
    assert time_windows(0.0, 30.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    assert members(time_windows(0.0, 30.0, 10.0), 30.0) == []  # its window covers no data
    w = time_windows(0.0, 30.0, 10.0, min_fraction=0)
    assert w[-1] == (30.0, 40.0) and members(w, 30.0) == [3]
    for t_max in (29.0, 35.0, 37.5):  # otherwise the last window, if kept, holds t_max
        w = time_windows(0.0, t_max, 10.0)
        assert w[-1][1] > t_max and members(w, t_max) == [len(w) - 1]


@pytest.mark.parametrize(("t_max", "frac", "last"), [
    (25.0, 0.5, (20.0, 30.0)),    # exactly half: kept
    (24.99, 0.5, (10.0, 20.0)),   # below half: dropped
    (22.9, 0.3, (10.0, 20.0)),
    (23.0, 0.3, (20.0, 30.0)),    # configurable
    (29.9, 1.0, (10.0, 20.0)),    # 1 drops every partial window
    (20.01, 0.0, (20.0, 30.0)),   # 0 keeps them all
])
def test_last_partial_window(t_max, frac, last):
    assert time_windows(0.0, t_max, 10.0, min_fraction=frac)[-1] == last


def test_partial_rule_with_overlap_and_decimal_half():
    # 0.2 of data after 0.8 is half of 0.4 in decimal, though 1.0 - 0.8 < 0.2 in binary
    assert time_windows(0.0, 1.0, 0.4)[-1][0] == 0.8
    # overlapping: every partial window follows the rule; the tail stays covered by earlier ones
    w = time_windows(0.0, 20.0, 10.0, 2.0)
    assert [s for s, _ in w] == [0, 2, 4, 6, 8, 10, 12, 14]
    assert members(w, 20.0) == [6, 7]  # [10, 20) ends there
    assert time_windows(0.0, 4.0, 10.0) == []  # shorter than half a window


def test_float_steps_are_not_accumulated():
    w = time_windows(0.0, 1.0, 0.1)
    assert len(w) == 10
    assert [s for s, _ in w] == [k * 0.1 for k in range(10)]
    acc, accumulated = 0.0, []
    for _ in range(10):
        accumulated.append(acc)
        acc += 0.1
    assert accumulated != [s for s, _ in w]  # the test can tell the two apart
    w = time_windows(3.7, 9.1, 0.3)
    assert [s for s, _ in w] == [3.7 + k * 0.3 for k in range(len(w))]
    assert all(a[1] == b[0] for a, b in zip(w, w[1:], strict=False))
    w = time_windows(1e5, 1e5 + 2.0, 0.1, 0.05)  # large offset, duration = 2 x shift
    assert all(w[k][1] == w[k + 2][0] for k in range(len(w) - 2))


def test_gaps_when_shift_exceeds_duration():
    w = time_windows(0.0, 10.0, 2.0, 3.0)
    assert w == [(0.0, 2.0), (3.0, 5.0), (6.0, 8.0), (9.0, 11.0)]
    assert members(w, 2.5) == []


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    ((0, 10, 0), {}, ValueError, "duration must be > 0"),
    ((0, 10, -1), {}, ValueError, "duration must be > 0"),
    ((0, 10, 1, 0), {}, ValueError, "shift must be > 0"),
    ((0, 10, 1, -2), {}, ValueError, "shift must be > 0"),
    ((10, 0, 1), {}, ValueError, r"t_max \(0.0\) is before t_min \(10.0\)"),
    ((math.nan, 10, 1), {}, ValueError, "t_min is NaN"),
    ((0, 10, math.nan), {}, ValueError, "duration is NaN"),
    ((0, math.inf, 1), {}, ValueError, "t_max must be finite"),
    ((0, 10, 1), {"min_fraction": 1.5}, ValueError, r"min_fraction must be in \[0, 1\]"),
    ((0, 10, "1"), {}, TypeError, "duration must be a real number"),
    ((0, 1e4, 1e-3, 1e-5), {}, ValueError, "are the times in seconds"),
])
def test_time_windows_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        time_windows(*args, **kwargs)


# --- check_windows, time_span ---------------------------------------------------------------

def test_check_windows():
    assert check_windows([(5, 15), (0, 10.5)]) == [(5.0, 15.0), (0.0, 10.5)]  # order kept
    assert check_windows(np.array([[0, 1], [0.5, 2]])) == [(0.0, 1.0), (0.5, 2.0)]
    for bad, match in [([(1, 1)], "window 0 .*before t_end"), ([(0, 1), (3, 2)], "window 1"),
                       ([(0, math.nan)], "t_end of window 0 is NaN"),
                       ([(0, math.inf)], "must be finite"), ([], "no time windows")]:
        with pytest.raises(ValueError, match=match):
            check_windows(bad)
    for bad, match in [((0, 10), r"single pair.*pass \[\(0, 10\)\]"),
                       ([(0, 1, 2)], "window 0 must be a .* 3 value"), ("0-10", "list of"),
                       ([("a", 1)], "t_start of window 0 must be a real number")]:
        with pytest.raises(TypeError, match=match):
            check_windows(bad)


def test_time_span():
    assert time_span(pd.DataFrame({"n": [1, 1], "t": [2.5, 0.5]})) == (0.5, 2.5)
    with pytest.raises(ValueError, match="empty data set"):
        time_span(pd.DataFrame({"t": []}))
    with pytest.raises(ValueError, match="lacks column 't'"):
        time_span(pd.DataFrame({"n": [1]}))
    with pytest.raises(ValueError, match="row 1 is not finite"):
        time_span(pd.DataFrame({"t": [0.0, math.nan]}))


# --- crop_time ------------------------------------------------------------------------------

@pytest.fixture
def frame():
    """Trajectories 7, 3 and 12 (not 1..K), a boundary at t = 1.0 and t = 2.0."""
    df = pd.DataFrame({
        "n": [7, 7, 7, 7, 3, 3, 12, 12, 12],
        "x": np.arange(9.0), "y": np.zeros(9),
        "t": [0.8, 0.9, 1.0, 1.1, 1.9, 2.0, 0.5, 1.5, 1.95],
        "frame": np.arange(9),
    })
    df.attrs["source"] = "f.txt"
    return df


def test_crop_time_hand_made(frame):
    out = crop_time(frame, 1.0, 2.0)
    # 7: 1.0 (boundary, kept) and 1.1; 3: 1.9 alone (2.0 is the next window's): dropped;
    # 12: 1.5 and 1.95
    assert out["n"].tolist() == [7, 7, 12, 12]
    assert out["t"].tolist() == [1.0, 1.1, 1.5, 1.95]
    assert out["frame"].tolist() == [2, 3, 7, 8]
    assert out.index.tolist() == [0, 1, 2, 3]
    assert out.attrs == {"source": "f.txt", "time_window": [1.0, 2.0]}
    before = crop_time(frame, 0.0, 1.0)
    assert before["t"].tolist() == [0.8, 0.9]  # 1.0 is in the next window only; 12: 0.5 alone
    out.loc[0, "x"] = -1.0
    assert frame.loc[2, "x"] == 2.0  # a copy
    tr = translocations(out)
    assert tr["dt"].round(9).tolist() == [0.1, 0.45]  # none spans the cut


def test_crop_time_unsorted_rows(frame):
    shuffled = frame.iloc[[8, 0, 5, 2, 6, 1, 4, 3, 7]].reset_index(drop=True)
    out = crop_time(shuffled, 0.85, 1.6)
    # sorted by (n, t): each trajectory's points are consecutive rows, time-sorted;
    # 12 has 1.5 alone in the window (0.5 and 1.95 are out): dropped
    assert out["n"].tolist() == [7, 7, 7]
    assert out["t"].tolist() == [0.9, 1.0, 1.1]
    wide = crop_time(shuffled, 0.0, 3.0)
    assert wide["n"].tolist() == [3, 3, 7, 7, 7, 7, 12, 12, 12]
    assert translocations(wide)["dt"].gt(0).all()


def test_crop_time_property():
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 12, 60)
    n = np.repeat(np.arange(60) * 3 + 1, lengths)
    t = np.concatenate([s + 0.05 * np.arange(k) for s, k in
                        zip(rng.uniform(0, 10, 60).round(2), lengths, strict=True)])
    df = pd.DataFrame({"n": n, "x": rng.random(n.size), "y": rng.random(n.size), "t": t})
    for s, e in time_windows(*time_span(df), 2.0, 1.0):
        out = crop_time(df, s, e)
        assert ((out["t"] >= s) & (out["t"] < e)).all()
        counts = out["n"].value_counts()
        assert (counts >= 2).all()
        heads = out["n"].to_numpy()[np.r_[True, np.diff(out["n"].to_numpy()) != 0]]
        assert len(set(heads)) == len(heads)  # each trajectory is one run of rows
        inside = df[(df["t"] >= s) & (df["t"] < e)]
        expected = inside[inside["n"].map(inside["n"].value_counts()) > 1]
        pd.testing.assert_frame_equal(out, expected.reset_index(drop=True))


def test_crop_time_errors(frame):
    with pytest.raises(ValueError, match=r"\[2.0, 1.0\): t_start must be before t_end"):
        crop_time(frame, 2.0, 1.0)
    with pytest.raises(ValueError, match="t_end is NaN"):
        crop_time(frame, 0.0, math.nan)
    with pytest.raises(ValueError, match="lacks column 'n'"):
        crop_time(frame.drop(columns="n"), 0.0, 1.0)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        crop_time(frame.to_numpy(), 0.0, 1.0)
    assert len(crop_time(frame, -math.inf, math.inf)) == len(frame)


# --- plots ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid_tess():
    xy = np.array([[x, y] for x in np.arange(0.5, 3) for y in np.arange(0.5, 3)])
    return tessellate(xy, "grid", cell_size=1.0, bounds=np.array([0.0, 0.0, 3.0, 3.0]),
                      check_outliers=False)


def window_maps(tess, scale, cells=None):
    cells = np.arange(tess.n_cells) if cells is None else np.asarray(cells)
    d = (0.1 + 0.1 * np.arange(len(cells))) * scale
    return Maps("d", tess.centers[cells], np.full(len(cells), 20), {"diffusivity": d},
                np.zeros(len(cells), bool), {}, cells)


def test_plot_over_time():
    rows = [("sim0 ROI 2", 15.0, 0.4), ("sim0 ROI 1", 5.0, 0.2), ("sim0 ROI 2", 5.0, 0.3),
            ("sim0 ROI 1", 15.0, 0.25), ("sim0 ROI 1", 10.0, math.nan)]
    ax = plot_over_time(rows, ylabel="median D (µm²/s)")
    assert [line.get_label() for line in ax.get_lines()] == ["sim0 ROI 2", "sim0 ROI 1"]
    assert ax.get_lines()[0].get_xdata().tolist() == [5.0, 15.0]  # sorted by time
    assert ax.get_lines()[1].get_ydata()[0] == 0.2
    assert all(line.get_marker() == "o" for line in ax.get_lines())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sim0 ROI 2", "sim0 ROI 1"]
    assert ax.get_ylabel() == "median D (µm²/s)" and "centre" in ax.get_xlabel()
    plt.close(ax.figure)
    df = pd.DataFrame({"roi": ["a", "a"], "t": [1.0, 2.0], "D": [0.1, 0.2]})
    ax = plot_over_time(df.itertuples(index=False))
    assert len(ax.get_lines()) == 1
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="at least one"):
        plot_over_time([])
    with pytest.raises(TypeError, match="row 1 must be a .*triple"):
        plot_over_time([("a", 1.0, 2.0), ("a", 1.0)])
    with pytest.raises(ValueError, match="row 0: window centre inf"):
        plot_over_time([("a", math.inf, 2.0)])


def test_plot_map_series_one_scale(tmp_path, grid_tess):
    series = [window_maps(grid_tess, 1.0), window_maps(grid_tess, 3.0, cells=[0, 1, 2, 4]),
              window_maps(grid_tess, 2.0)]
    grid = plot_map_series(series, "diffusivity", ["0-10 s", "10-20 s", "20-30 s"],
                           tessellations=grid_tess, ncols=3)
    assert repr(grid) == "<MapGrid: diffusivity, 3 map(s)>"
    clims = {tuple(np.round(ax.collections[0].get_clim(), 9)) for ax in grid.axes}
    assert clims == {(0.1, 1.8)}  # one scale: min of all windows to max of all windows
    assert len(grid.figure.axes) == 4  # three panels and one colorbar
    assert len({ax.get_xlim() for ax in grid.axes}) == 1  # the same field of view
    assert [ax.get_title() for ax in grid.axes] == ["0-10 s", "10-20 s", "20-30 s"]
    grid.savefig(tmp_path / "series.png")
    plt.close(grid.figure)
    with pytest.raises(ValueError, match="2 title.* for 3 maps"):
        plot_map_series(series, "diffusivity", ["a", "b"])
    with pytest.raises(ValueError, match="2 tessellations for 3 maps"):
        plot_map_series(series, "diffusivity", ["a", "b", "c"],
                        tessellations=[grid_tess, grid_tess])


def html_frames(path):
    """The PNG frames embedded by Animation.to_jshtml, decoded to RGB arrays."""
    found = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]+)"', path.read_text())
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB"))
            for b in found]


def test_animate_maps_gif_and_html(tmp_path, grid_tess):
    # frames 0 and 2 are the same map, frame 1 has twice its values: with one colour scale
    # frame 1 looks different (with a scale per frame all three would look the same)
    series = [window_maps(grid_tess, 1.0), window_maps(grid_tess, 2.0),
              window_maps(grid_tess, 1.0)]
    figures = plt.get_fignums()
    html = animate_maps(series, "diffusivity", ["ROI 0"] * 3, str(tmp_path / "roi0.html"),
                        fps=4, tessellations=grid_tess)
    assert html == tmp_path / "roi0.html" and html.stat().st_size > 0
    assert "<script" in html.read_text()
    frames = html_frames(html)  # lossless PNGs: compared exactly
    assert len(frames) == 3
    assert not np.array_equal(frames[0], frames[1])
    assert np.array_equal(frames[0], frames[2])
    gif = animate_maps(series, "diffusivity", ["ROI 0"] * 3, tmp_path / "roi0.gif")
    assert gif == tmp_path / "roi0.gif" and gif.stat().st_size > 0
    assert plt.get_fignums() == figures  # closed: not shown again
    with Image.open(gif) as im:
        assert im.format == "GIF"
        frames = [np.asarray(f.convert("RGB")).astype(int) for f in ImageSequence.Iterator(im)]
    assert len(frames) == 3
    # a GIF has a palette per frame: frames 0 and 2 are alike, not equal
    assert np.abs(frames[0] - frames[2]).mean() < 0.3 * np.abs(frames[0] - frames[1]).mean()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roi0.gif", "roi0.html"]  # no temp
    with pytest.raises(ValueError, match=r"'roi0.mp4'.*\.gif or \.html"):
        animate_maps(series, "diffusivity", ["a"] * 3, tmp_path / "roi0.mp4")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        animate_maps(series, "diffusivity", ["a"] * 3, tmp_path / "no" / "roi0.gif")
    with pytest.raises(ValueError, match="fps must be a positive"):
        animate_maps(series, "diffusivity", ["a"] * 3, tmp_path / "x.gif", fps=0)
    with pytest.raises(ValueError, match="2 title.* for 3 maps"):
        animate_maps(series, "diffusivity", ["a"] * 2, tmp_path / "x.gif")
