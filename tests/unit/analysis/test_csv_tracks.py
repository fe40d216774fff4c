"""CSV readers: TrackMate's spots table (with and without its unit rows) and long format."""

from __future__ import annotations

import numpy as np
import pytest

from tramway_jupyter.analysis import read_trajectories
from tramway_jupyter.analysis.csv_tracks import read_tracks_csv, write_tracks_csv
from tramway_jupyter.exceptions import DataFormatError

# TrackMate 7's "Spots" table export: keys, then names, short names and units rows. Rows are not
# sorted by track; spot ID5 is in no track; track 1 splits after frame 1.
_KEYS = ("LABEL,ID,TRACK_ID,QUALITY,POSITION_X,POSITION_Y,POSITION_Z,POSITION_T,FRAME,RADIUS,"
         "VISIBILITY,MANUAL_SPOT_COLOR,MEAN_INTENSITY_CH1\n")
_UNIT_ROWS = ("Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame,Radius,Visibility,Manual spot color,"
              "Mean intensity ch1\n"
              "Label,Spot ID,Track ID,Quality,X,Y,Z,T,Frame,R,Visibility,Spot color,Mean ch1\n"
              ",,,(quality),({space}),({space}),({space}),({time}),,({space}),,,(counts)\n")
_ROWS = [  # label, id, track, x, y, frame
    ("ID0", 0, 0, 1.0, 2.0, 0), ("ID7", 7, 1, 5.0, 5.0, 0), ("ID1", 1, 0, 1.5, 2.0, 1),
    ("ID8", 8, 1, 5.1, 5.0, 1), ("ID2", 2, 0, 2.0, 2.5, 2), ("ID9", 9, 1, 5.2, 5.5, 2),
    ("ID10", 10, 1, 5.2, 4.5, 2), ("ID5", 5, "", 9.0, 9.0, 1),
]


def trackmate_csv(units=True, space="micron", time="sec", interval=0.1):
    body = "".join(
        f"{lab},{i},{k},12.5,{x},{y},0.0,{f * (interval if time != 'frame' else 1)},{f},0.25,1"
        f",,101.5\n" for lab, i, k, x, y, f in _ROWS)
    return _KEYS + (_UNIT_ROWS.format(space=space, time=time) if units else "") + body


# trackpy's DataFrame.to_csv: an index column, y before x, feature columns, frame, particle
TRACKPY = (",y,x,mass,size,ecc,signal,raw_mass,ep,frame,particle\n"
           "0,20.0,10.0,300.1,1.2,0.1,10.0,500.0,0.05,0,0\n"
           "1,20.5,10.5,301.1,1.2,0.1,10.0,500.0,0.05,1,0\n"
           "2,21.0,10.0,299.0,1.2,0.1,10.0,500.0,0.05,2,0\n"
           "3,50.0,40.0,310.0,1.2,0.1,10.0,500.0,0.05,0,3\n"
           "4,50.0,40.5,310.0,1.2,0.1,10.0,500.0,0.05,1,3\n")


def _write(tmp_path, text, name="spots.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _trajectories(df):
    return {tuple((round(x, 6), round(y, 6)) for x, y in g[["x", "y"]].to_numpy())
            for _, g in df.groupby("n")}


def test_trackmate_csv_with_unit_rows(tmp_path):
    df = read_trajectories(_write(tmp_path, trackmate_csv()))
    assert list(df.columns) == ["n", "x", "y", "t"]
    trajs = _trajectories(df)
    assert ((1.0, 2.0), (1.5, 2.0), (2.0, 2.5)) in trajs
    assert ((5.0, 5.0), (5.1, 5.0)) in trajs  # track 1 cut before its split
    assert ((5.2, 5.5),) in trajs and ((5.2, 4.5),) in trajs
    assert 9.0 not in df["x"].to_numpy()  # in no track
    assert df[df["x"] == 2.0]["t"].item() == pytest.approx(0.2)


def test_trackmate_csv_units_from_rows(tmp_path):
    df = read_trajectories(_write(tmp_path, trackmate_csv(space="nm", time="ms", interval=50)))
    assert df["x"].max() == pytest.approx(5.2e-3)
    assert df["t"].max() == pytest.approx(0.1)
    path = _write(tmp_path, trackmate_csv(space="pixel", time="frame"), "px.csv")
    with pytest.raises(ValueError, match=r"px\.csv: positions are in pixels.*pixel_size="):
        read_trajectories(path)
    df = read_trajectories(path, pixel_size=0.16, frame_interval=0.05)
    assert df["x"].max() == pytest.approx(5.2 * 0.16)
    assert df["t"].max() == pytest.approx(0.1)  # FRAME * frame_interval


def test_trackmate_csv_without_unit_rows(tmp_path):
    path = _write(tmp_path, trackmate_csv(units=False))
    with pytest.raises(ValueError, match=r"spots\.csv: a TrackMate CSV without unit rows does "
                       r"not say its units; pass units="):
        read_trajectories(path)
    df = read_trajectories(path, units="um,s")
    assert df[df["x"] == 2.0]["t"].item() == pytest.approx(0.2)
    px = read_trajectories(path, pixel_size=0.1, frame_interval=0.02)
    assert px[np.isclose(px["x"], 0.2)]["t"].item() == pytest.approx(0.04)
    with pytest.raises(ValueError, match="states its units"):
        read_trajectories(_write(tmp_path, trackmate_csv(), "u.csv"), units="um,s")


def test_long_format_trackpy(tmp_path):
    path = _write(tmp_path, TRACKPY, "tp.csv")
    with pytest.raises(ValueError, match="long-format CSV does not say its units"):
        read_trajectories(path)
    with pytest.raises(ValueError, match="frame_interval="):
        read_trajectories(path, pixel_size=0.1)
    df = read_trajectories(path, pixel_size=0.1, frame_interval=0.05)
    assert df["n"].tolist() == [0, 0, 0, 3, 3]
    assert df["x"].to_numpy() == pytest.approx([1.0, 1.05, 1.0, 4.0, 4.05])
    assert df["y"].to_numpy() == pytest.approx([2.0, 2.05, 2.1, 5.0, 5.0])
    assert df["t"].to_numpy() == pytest.approx([0, 0.05, 0.1, 0, 0.05])
    um = read_trajectories(path, units="um", frame_interval=0.05)
    assert um["x"].max() == 40.5


def test_long_format_column_mapping(tmp_path):
    text = "track,X (um),Y (um),time (s)\n1,0.5,0.5,0.0\n1,0.6,0.5,0.1\n2,3.0,3.0,0.0\n"
    path = _write(tmp_path, text, "mine.csv")
    with pytest.raises(DataFormatError, match=r"mine\.csv, line 1: no x position column"):
        read_trajectories(path, units="um,s")
    df = read_trajectories(path, columns={"x": "X (um)", "y": "Y (um)", "t": "time (s)"},
                           units="um,s")
    assert df["n"].tolist() == [1, 1, 2] and df["t"].tolist() == [0.0, 0.1, 0.0]
    with pytest.raises(DataFormatError, match=r"columns=\{'x': 'X'\}: no such column"):
        read_tracks_csv(path, columns={"x": "X"}, units="um,s")
    with pytest.raises(ValueError, match="unknown key"):
        read_tracks_csv(path, columns={"q": "X"}, units="um,s")


@pytest.mark.parametrize("text, expected", [
    ("particle,frame,x\n0,0,1.0\n", r"bad\.csv, line 1: no y position column"),
    ("frame,x,y\n0,1.0,2.0\n", r"bad\.csv, line 1: no trajectory id column"),
    ("particle,frame,x,y\n0,0,1.0,2.0\n0,1,abc,2.0\n", r"bad\.csv, line 3: column 'x': 'abc'"),
    ("particle,frame,x,y\n0,0,1.0,2.0\n0,1,,2.0\n", r"bad\.csv, line 3: column 'x': ''"),
    ("particle,frame,x,y\n0,0,1.0,2.0\n0,0,1.5,2.0\n",
     r"bad\.csv, line 3: two localizations of trajectory 0 at the same time"),
    ("particle,x,y\n0,1.0,2.0\n", r"bad\.csv, line 1: no time column"),
    ("", r"bad\.csv, line 1: empty file"),
])
def test_malformed_csv(tmp_path, text, expected):
    path = _write(tmp_path, text, "bad.csv")
    with pytest.raises(DataFormatError, match=expected):
        read_trajectories(path, units="um", frame_interval=0.1)


def test_malformed_trackmate_csv_line(tmp_path):
    text = trackmate_csv().replace("1.5,2.0,0.0", "1.5,oops,0.0")
    with pytest.raises(DataFormatError, match=r"spots\.csv, line 7: column 'POSITION_Y'"):
        read_trajectories(_write(tmp_path, text))


def test_writers_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    import pandas as pd

    df = pd.DataFrame({"n": np.repeat([0, 1, 2], 4), "x": rng.normal(size=12),
                       "y": rng.normal(size=12), "t": np.tile([0.0, 0.05, 0.1, 0.15], 3) + 1})
    for flavour, kw in (("long", {"units": "um,s"}), ("trackmate", {})):
        back = read_trajectories(write_tracks_csv(df, tmp_path / f"{flavour}.csv",
                                                  flavour=flavour), **kw)
        np.testing.assert_array_equal(back[["x", "y", "t"]].to_numpy(), df[["x", "y", "t"]])
