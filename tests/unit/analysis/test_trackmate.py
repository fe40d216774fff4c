"""TrackMate XML readers (model file, "export tracks to XML") on files written as TrackMate does."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from tramway_jupyter.analysis import read_trajectories, write_simulation
from tramway_jupyter.analysis.cli import add_subcommands
from tramway_jupyter.analysis.csv_tracks import write_tracks_csv
from tramway_jupyter.analysis.trackmate import read_trackmate_xml, write_trackmate_xml
from tramway_jupyter.exceptions import DataFormatError

# -- a model file as TrackMate 7 saves it (trimmed features, same structure) -----------------

_SPOT = ('        <Spot ID="{id}" name="ID{id}" STD_INTENSITY_CH1="12.3" QUALITY="25.1" '
         'POSITION_T="{t}" TOTAL_INTENSITY_CH1="1234.0" POSITION_X="{x}" POSITION_Y="{y}" '
         'FRAME="{f}" RADIUS="0.25" VISIBILITY="1" POSITION_Z="0.0" />\n')

# (id, frame, x, y): track 0 linear (0-3), track 1 splits at 11 and merges at 16, track 2 is
# filtered out, spot 99 is in no track.
_SPOTS = [(0, 0, 1.0, 1.0), (1, 1, 1.1, 1.0), (2, 2, 1.2, 1.1), (3, 3, 1.3, 1.2),
          (10, 0, 5.0, 5.0), (11, 1, 5.1, 5.0), (12, 2, 5.2, 5.5), (13, 2, 5.2, 4.5),
          (14, 3, 5.3, 5.6), (15, 3, 5.3, 4.4), (16, 4, 5.4, 5.0), (17, 5, 5.5, 5.0),
          (20, 0, 8.0, 8.0), (21, 1, 8.1, 8.0), (99, 2, 3.0, 3.0)]
_TRACKS = {0: [(0, 1), (2, 1), (2, 3)],  # the edge 2->1 is written backwards in time
           1: [(10, 11), (11, 12), (11, 13), (12, 14), (13, 15), (14, 16), (15, 16), (16, 17)],
           2: [(20, 21)]}


def model_xml(spatial="micron", time="sec", interval=0.1, pixelwidth=0.16, spots=_SPOTS,
              tracks=_TRACKS, filtered=(0, 1)) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<TrackMate version="7.11.1">\n'
           '  <Log>TrackMate v7.11.1 started on:\n2023-01-01 ...</Log>\n'
           f'  <Model spatialunits="{spatial}" timeunits="{time}">\n'
           '    <FeatureDeclarations>\n      <SpotFeatures>\n'
           '        <Feature feature="QUALITY" name="Quality" shortname="Quality" '
           'dimension="QUALITY" isint="false" />\n'
           '        <Feature feature="POSITION_X" name="X" shortname="X" dimension="POSITION" '
           'isint="false" />\n'
           '        <Feature feature="FRAME" name="Frame" shortname="Frame" dimension="NONE" '
           'isint="true" />\n      </SpotFeatures>\n      <EdgeFeatures>\n'
           '        <Feature feature="SPOT_SOURCE_ID" name="Source spot ID" shortname="Source '
           'ID" dimension="NONE" isint="true" />\n      </EdgeFeatures>\n      <TrackFeatures>\n'
           '        <Feature feature="TRACK_ID" name="Track ID" shortname="ID" '
           'dimension="NONE" isint="true" />\n      </TrackFeatures>\n'
           '    </FeatureDeclarations>\n'
           f'    <AllSpots nspots="{len(spots)}">\n']
    for frame in sorted({s[1] for s in spots}):
        out.append(f'      <SpotsInFrame frame="{frame}">\n')
        out += [_SPOT.format(id=i, f=f, t=f * (interval if time != "frame" else 1), x=x, y=y)
                for i, f, x, y in spots if f == frame]
        out.append("      </SpotsInFrame>\n")
    out.append("    </AllSpots>\n    <AllTracks>\n")
    for k, edges in tracks.items():
        out.append(f'      <Track name="Track_{k}" TRACK_ID="{k}" TRACK_INDEX="{k}" '
                   f'NUMBER_SPOTS="{len(edges) + 1}" NUMBER_SPLITS="0">\n')
        out += [f'        <Edge SPOT_SOURCE_ID="{a}" SPOT_TARGET_ID="{b}" LINK_COST="1.5" '
                f'EDGE_TIME="0.5" />\n' for a, b in edges]
        out.append("      </Track>\n")
    out.append("    </AllTracks>\n    <FilteredTracks>\n")
    out += [f'      <TrackID TRACK_ID="{k}" />\n' for k in filtered]
    out.append("    </FilteredTracks>\n  </Model>\n  <Settings>\n"
               '    <ImageData filename="cells.tif" folder="/data/" width="512" height="512" '
               f'nslices="1" nframes="6" pixelwidth="{pixelwidth}" pixelheight="{pixelwidth}" '
               f'voxeldepth="1.0" timeinterval="{interval}" />\n'
               '    <BasicSettings xstart="0" xend="511" ystart="0" yend="511" zstart="0" '
               'zend="0" tstart="0" tend="5" />\n'
               '    <DetectorSettings DETECTOR_NAME="LOG_DETECTOR" RADIUS="0.25" />\n'
               "  </Settings>\n  <GUIState state=\"ConfigureViews\" />\n"
               "  <DisplaySettings>{}</DisplaySettings>\n</TrackMate>\n")
    return "".join(out)


def tracks_xml(space="micron", time="sec", interval="0.1") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Tracks nTracks="2" spaceUnits="{space}" frameInterval="{interval}" '
            f'timeUnits="{time}" generationDateTime="Mon, 2 Jan 2023 10:00:00" '
            'from="TrackMate v7.11.1">\n'
            '  <particle nSpots="3">\n'
            '    <detection t="0" x="1.0" y="2.0" z="0.0" />\n'
            '    <detection t="1" x="1.5" y="2.0" z="0.0" />\n'
            '    <detection t="3" x="2.0" y="2.5" z="0.0" />\n'
            '  </particle>\n'
            '  <particle nSpots="5">\n'  # splits after t=1: two detections at t=2 and t=3
            '    <detection t="0" x="5.0" y="5.0" z="0.0" />\n'
            '    <detection t="1" x="5.1" y="5.0" z="0.0" />\n'
            '    <detection t="2" x="5.2" y="5.5" z="0.0" />\n'
            '    <detection t="2" x="5.2" y="4.5" z="0.0" />\n'
            '    <detection t="3" x="5.3" y="4.4" z="0.0" />\n'
            '  </particle>\n'
            '</Tracks>\n')


def _write(tmp_path, text, name="tracks.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _trajectories(df):
    """{frozenset of (x, y) rounded}: one per trajectory, order-free."""
    return {tuple((round(x, 6), round(y, 6)) for x, y in g[["x", "y"]].to_numpy())
            for _, g in df.groupby("n")}


def test_model_file_filtered_tracks_and_branches(tmp_path):
    df = read_trajectories(_write(tmp_path, model_xml()))
    assert list(df.columns) == ["n", "x", "y", "t"]  # z all zero: dropped
    trajs = _trajectories(df)
    assert trajs == {
        ((1.0, 1.0), (1.1, 1.0), (1.2, 1.1), (1.3, 1.2)),  # track 0, edge 2->1 reoriented
        ((5.0, 5.0), (5.1, 5.0)),  # before the split
        ((5.2, 5.5), (5.3, 5.6)), ((5.2, 4.5), (5.3, 4.4)),  # the two branches
        ((5.4, 5.0), (5.5, 5.0)),  # after the merge
    }
    # no step across a branch point: every step is one frame (0.1 s) and < 0.2 µm
    same = df["n"].to_numpy()[1:] == df["n"].to_numpy()[:-1]
    assert np.allclose(np.diff(df["t"].to_numpy())[same], 0.1)
    step = np.hypot(np.diff(df["x"].to_numpy()), np.diff(df["y"].to_numpy()))[same]
    assert step.max() < 0.2
    assert df.attrs["frame_interval"] == pytest.approx(0.1)
    # trajectories numbered by (track, start time)
    assert df.groupby("n")["t"].min().tolist() == pytest.approx([0, 0, 0.2, 0.2, 0.4])


def test_model_file_all_tracks(tmp_path):
    df = read_trackmate_xml(_write(tmp_path, model_xml()), all_tracks=True)
    assert ((8.0, 8.0), (8.1, 8.0)) in _trajectories(df)
    assert df["n"].nunique() == 6


def test_model_file_in_pixels_and_frames(tmp_path):
    path = _write(tmp_path, model_xml(spatial="pixel", time="frame", interval=1.0,
                                      pixelwidth=1.0))
    with pytest.raises(ValueError, match=r"tracks\.xml.*pixels.*pixel_size="):
        read_trajectories(path)
    with pytest.raises(ValueError, match=r"tracks\.xml.*frames.*frame_interval="):
        read_trajectories(path, pixel_size=0.16)
    df = read_trajectories(path, pixel_size=0.16, frame_interval=0.05)
    first = df[df["n"] == 0]
    assert first["x"].to_numpy() == pytest.approx([0.16, 0.176, 0.192, 0.208])
    assert first["t"].to_numpy() == pytest.approx([0, 0.05, 0.1, 0.15])
    # pixel_size on a file in microns is a conflict, not silently applied
    with pytest.raises(ValueError, match="already in 'micron'.*drop it"):
        read_trajectories(_write(tmp_path, model_xml(), "um.xml"), pixel_size=0.16)


def test_model_file_nm_and_ms(tmp_path):
    df = read_trajectories(_write(tmp_path, model_xml(spatial="nm", time="ms", interval=100)))
    assert df[df["n"] == 0]["x"].to_numpy() == pytest.approx([1e-3, 1.1e-3, 1.2e-3, 1.3e-3])
    assert df[df["n"] == 0]["t"].to_numpy() == pytest.approx([0, 0.1, 0.2, 0.3])


def test_export_tracks_file(tmp_path):
    df = read_trajectories(_write(tmp_path, tracks_xml()))
    trajs = _trajectories(df)
    assert ((1.0, 2.0), (1.5, 2.0), (2.0, 2.5)) in trajs
    assert ((5.0, 5.0), (5.1, 5.0)) in trajs  # the branching particle, cut before the split
    assert all(len(t) == 1 for t in trajs - {((1.0, 2.0), (1.5, 2.0), (2.0, 2.5)),
                                             ((5.0, 5.0), (5.1, 5.0))})
    assert df[df["x"] == 2.0]["t"].item() == pytest.approx(0.3)  # t in frames * frameInterval


def test_export_tracks_file_in_pixels(tmp_path):
    path = _write(tmp_path, tracks_xml(space="pixel", time="frame", interval="1.0"))
    with pytest.raises(ValueError, match="pixel_size="):
        read_trajectories(path)
    df = read_trajectories(path, pixel_size=0.1, frame_interval=0.02)
    assert df["x"].max() == pytest.approx(0.53)
    assert df["t"].max() == pytest.approx(0.06)


@pytest.mark.parametrize("mangle, expected", [
    (lambda s: s[: s.index("</AllTracks>")], r"line \d+.*malformed XML"),  # unclosed
    (lambda s: s.replace('SPOT_TARGET_ID="17"', 'SPOT_TARGET_ID="170"'),
     r'<Edge SPOT_SOURCE_ID="16" SPOT_TARGET_ID="170"> in <Track TRACK_ID="1">.*170 is not'),
    (lambda s: s.replace('POSITION_X="5.2" ', "", 1),
     r'<Spot ID="12"> in <SpotsInFrame frame="2"> has no POSITION_X'),
    (lambda s: s.replace('POSITION_Y="5.5"', 'POSITION_Y="abc"'),
     r"POSITION_Y='abc' is not a number"),
    (lambda s: s.replace('<TrackID TRACK_ID="1" />', '<TrackID TRACK_ID="7" />'),
     r'<TrackID TRACK_ID="7"> in <FilteredTracks> names no <Track>'),
    (lambda s: s.replace("<Model ", "<Modell ").replace("</Model>", "</Modell>"),
     "no <Model> element"),
    (lambda s: s.replace("TrackMate", "Trackmate"), r"root element <Trackmate>"),
    (lambda s: "", "line 1.*malformed XML"),
])
def test_malformed_model_file(tmp_path, mangle, expected):
    path = _write(tmp_path, mangle(model_xml()), "bad.xml")
    with pytest.raises(DataFormatError, match=expected) as info:
        read_trajectories(path)
    assert str(info.value).startswith(str(path))


def test_malformed_tracks_file(tmp_path):
    path = _write(tmp_path, tracks_xml().replace('x="1.5" ', ""), "bad.xml")
    with pytest.raises(DataFormatError, match=r"bad\.xml: <detection t=\"1\"> in <particle> "
                       r"#1 has no x attribute"):
        read_trajectories(path)


def test_xml_by_content(tmp_path):
    df = read_trajectories(_write(tmp_path, model_xml(), "tracks.txt"))
    assert df["n"].nunique() == 5


def test_writer_round_trip(tmp_path):
    (path,) = write_simulation(tmp_path, n_files=1, n_rois=1, n_translocations=2000, seed=3)
    df = read_trajectories(path)
    back = read_trajectories(write_trackmate_xml(df, tmp_path / "m.xml"))
    np.testing.assert_array_equal(back[["x", "y", "t"]].to_numpy(), df[["x", "y", "t"]])
    tracks = read_trajectories(write_trackmate_xml(df, tmp_path / "t.xml", flavour="tracks"))
    np.testing.assert_array_equal(tracks[["x", "y"]].to_numpy(), df[["x", "y"]])
    np.testing.assert_allclose(tracks["t"], df["t"], atol=1e-9)


def _infer(*argv):
    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def test_same_data_as_text_xml_and_csv_gives_identical_maps(tmp_path):
    (path,) = write_simulation(tmp_path, n_files=1, n_rois=1, n_translocations=6000, seed=5,
                               diffusivity="gradient")
    df = read_trajectories(path)
    files = {"txt": ([path], []),
             "xml": ([write_trackmate_xml(df, tmp_path / "sim.xml")], []),
             "tm_csv": ([write_tracks_csv(df, tmp_path / "tm.csv", flavour="trackmate")], []),
             "trackpy": ([write_tracks_csv(df, tmp_path / "tp.csv")], ["--units", "um,s"])}
    maps = {}
    for name, ((src,), extra) in files.items():
        out = tmp_path / f"{name}-maps.csv"
        assert _infer("infer", src, *extra, "--mode", "df", "--points-per-cell", 60,
                      "-o", out) == 0
        maps[name] = pd.read_csv(out)
    for name in ("xml", "tm_csv", "trackpy"):
        pd.testing.assert_frame_equal(maps[name], maps["txt"], check_exact=True)
    assert maps["txt"]["diffusivity"].notna().sum() > 10


def test_infer_cli_pixel_size(tmp_path, capsys):
    path = _write(tmp_path, model_xml(spatial="pixel", time="frame", interval=1.0,
                                      pixelwidth=1.0))
    assert _infer("infer", path, "--mode", "d", "-o", tmp_path / "m.csv") == 2
    assert "--pixel-size" in capsys.readouterr().err
    assert _infer("infer", path, "--pixel-size", 0.16, "--frame-interval", 0.05, "--mode", "d",
                  "--min-count", 1, "-o", tmp_path / "m.csv") == 0
