"""ImageJ ROIs (.roi, RoiSet.zip written with roifile), cropping by shape, the ROI file lookup."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from roifile import ROI_TYPE, ImagejRoi, roiwrite

from tramway_jupyter.analysis import crop, read_rois, roi_file_for, translocations, write_rois
from tramway_jupyter.analysis.imagej_rois import imagej_roi_names, read_imagej_rois
from tramway_jupyter.analysis.rois import RoiShape, roi_file_candidates, roi_names
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.exceptions import DataFormatError
from tramway_jupyter.jobs.plan import expand_sources, make_plan, resolve_rois

PX = 0.5  # µm per pixel in these tests


def _rect(name, left, top, right, bottom):
    r = ImagejRoi(roitype=ROI_TYPE.RECT, name=name, left=left, top=top, right=right,
                  bottom=bottom)
    return r


def _oval(name, left, top, right, bottom):
    return ImagejRoi(roitype=ROI_TYPE.OVAL, name=name, left=left, top=top, right=right,
                     bottom=bottom)


def _triangle(name="tri"):
    # (0,0), (20,0), (0,20) px -> (0,0), (10,0), (0,10) µm at PX
    roi = ImagejRoi.frompoints(np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]]), name=name)
    roi.roitype = ROI_TYPE.POLYGON
    return roi


@pytest.fixture
def roiset(tmp_path):
    """X.xml with X_RoiSet.zip beside it: a rectangle, an oval and a triangle, named."""
    (tmp_path / "X.xml").write_text("<Tracks/>\n")
    path = tmp_path / "X_RoiSet.zip"
    roiwrite(path, [_rect("nucleus", 10, 20, 30, 60), _oval("blob", 0, 0, 40, 20),
                    _triangle("wedge")], mode="w")
    return path


def test_roiset_roundtrip_names_kinds_and_units(roiset):
    assert roi_names(roiset) == ["nucleus", "blob", "wedge"]
    shapes = read_rois(roiset, shapes=True, pixel_size=PX)
    assert [(s.name, s.kind) for s in shapes] == [
        ("nucleus", "rectangle"), ("blob", "oval"), ("wedge", "polygon")]
    assert shapes[0].bounds == (5.0, 10.0, 15.0, 30.0)
    assert shapes[1].bounds == (0.0, 0.0, 20.0, 10.0) and len(shapes[1].vertices) == 64
    np.testing.assert_allclose(shapes[2].vertices, [[0, 0], [10, 0], [0, 10]])
    # the historical result: bounding boxes in µm
    np.testing.assert_allclose(read_rois(roiset, pixel_size=PX),
                               [[5, 10, 15, 30], [0, 0, 20, 10], [0, 0, 10, 10]])


def test_names_fall_back_to_member_then_file(tmp_path):
    unnamed = _rect("", 0, 0, 4, 4)
    path = tmp_path / "cells_RoiSet.zip"
    roiwrite(path, [unnamed, _rect("kept", 4, 4, 8, 8)], name=["0001-cellA", "ignored"],
             mode="w")
    assert imagej_roi_names(path) == ["0001-cellA", "kept"]
    single = tmp_path / "X.roi"
    _rect("", 0, 0, 4, 4).tofile(single)
    assert roi_names(single) == ["X"]
    assert read_imagej_rois(single, pixel_size=1.0)[0].bounds == (0.0, 0.0, 4.0, 4.0)


def _frame(points):
    """One trajectory per point (so that crop keeps exactly the points inside)."""
    xy = np.asarray(points, dtype=np.float64)
    return pd.DataFrame({"n": np.arange(len(xy)), "x": xy[:, 0], "y": xy[:, 1],
                         "t": np.zeros(len(xy))})


def _kept(df, out):
    return [tuple(p) for p in out[["x", "y"]].to_numpy()]


def test_crop_triangle_inside_outside_and_boundary(roiset):
    pts = {
        (2.0, 2.0): True, (4.9, 4.9): True, (6.0, 6.0): False, (-0.1, 5.0): False,
        (5.0, 10.5): False, (0.0, 5.0): True,   # left edge: in (interior to its right)
        (5.0, 0.0): True,                       # top edge (y = 0, rows grow downwards): in
        (5.0, 5.0): False,                      # on the hypotenuse (right/bottom side): out
    }
    df = _frame(list(pts))
    out = crop(df, roiset, index=2, pixel_size=PX)
    assert _kept(df, out) == [p for p, inside in pts.items() if inside]
    assert out.attrs["roi_name"] == "wedge" and out.attrs["roi_kind"] == "polygon"
    assert out.attrs["roi"] == 2 and out.attrs["roi_bounds"] == [0.0, 0.0, 10.0, 10.0]


def test_crop_ellipse_exact_and_closed(roiset):
    # blob: centre (10, 5) µm, semi-axes 10 x 5
    pts = {(10.0, 5.0): True, (19.9, 5.0): True, (20.0, 5.0): True, (20.1, 5.0): False,
           (10.0, 9.9): True, (10.0, 10.0): True, (1.0, 1.0): False, (19.0, 9.0): False,
           (10.0 + 10 * np.cos(0.7) * 0.999, 5.0 + 5 * np.sin(0.7) * 0.999): True}
    df = _frame(list(pts))
    out = crop(df, roiset, name="blob", pixel_size=PX)
    assert _kept(df, out) == [p for p, inside in pts.items() if inside]


def test_rectangle_rules_imagej_half_open_tramway_closed(roiset, tmp_path):
    df = _frame([(5.0, 10.0), (15.0, 20.0), (10.0, 30.0), (14.99, 29.99)])
    out = crop(df, roiset, name="nucleus", pixel_size=PX)
    assert _kept(df, out) == [(5.0, 10.0), (14.99, 29.99)]  # right and bottom edges out
    txt = write_rois([[5, 10, 15, 30]], tmp_path / "box-roi.txt")
    assert len(crop(df, txt, index=0)) == 4  # TRamWAy's boxes: closed, as before


def test_crop_splits_a_trajectory_leaving_a_polygon(roiset):
    x = [1.0, 2.0, 9.5, 9.8, 2.0, 1.5]  # in, in, out, out, in, in (y = 1)
    df = pd.DataFrame({"n": [3] * 6, "x": x, "y": [1.0] * 6, "t": np.arange(6) * 0.1})
    out = crop(df, roiset, name="wedge", pixel_size=PX)
    assert out["n"].tolist() == [1, 1, 2, 2]
    assert np.abs(translocations(out)["dx"]).max() <= 1.0  # none spans the excursion


def test_pixel_size_rule(roiset, tmp_path):
    df = _frame([(2.0, 2.0)])
    with pytest.raises(ValueError) as exc:
        crop(df, roiset, index=0)
    assert "X_RoiSet.zip" in str(exc.value) and "pixel_size=" in str(exc.value)
    with pytest.raises(ValueError, match="positive"):
        read_imagej_rois(roiset, pixel_size=-1.0)
    with pytest.raises(ValueError, match="take no pixel size"):
        read_imagej_rois(roiset, pixel_size=PX, units="um")
    in_um = read_rois(roiset, shapes=True, units="um")  # coordinates used as they are
    assert in_um[0].bounds == (10.0, 20.0, 30.0, 60.0)
    # TRamWAy files are in µm: pixel_size is ignored there (a run passes it to every crop)
    txt = write_rois([[0, 0, 5, 5]], tmp_path / "box-roi.txt")
    pd.testing.assert_frame_equal(crop(df, txt, index=0, pixel_size=PX), crop(df, txt, index=0))


def test_crop_by_name_errors(roiset):
    df = _frame([(2.0, 2.0)])
    pd.testing.assert_frame_equal(crop(df, roiset, name="wedge", pixel_size=PX),
                                  crop(df, roiset, index=2, pixel_size=PX))
    with pytest.raises(KeyError, match="nucleus"):
        crop(df, roiset, name="nope", pixel_size=PX)
    with pytest.raises(ValueError, match="not both"):
        crop(df, roiset, index=0, name="wedge", pixel_size=PX)
    with pytest.raises(ValueError, match="pass index"):
        crop(df, roiset, pixel_size=PX)
    shape = RoiShape.polygon("p", [[0, 0], [5, 0], [0, 5]])
    assert len(crop(df, [shape])) == 1 and len(crop(df, shape)) == 1


def test_lookup_order(tmp_path):
    data = tmp_path / "X.xml"
    cands = [p.name for p in roi_file_candidates(data)]
    assert cands == ["X_RoiSet.zip", "X-RoiSet.zip", "X.roi", "X-roi.txt"]
    assert roi_file_for(data).name == "X_RoiSet.zip"  # none exists: the first candidate
    for name in reversed(cands):  # each new file takes precedence over those after it
        (tmp_path / name).write_bytes(b"")
        assert roi_file_for(data).name == name
    assert [p.name for p in roi_file_candidates(tmp_path / "Y.CSV")][0] == "Y_RoiSet.zip"
    # TRamWAy's files keep TRamWAy's rule, even with a RoiSet beside them
    (tmp_path / "Z.rpt_RoiSet.zip").write_bytes(b"")
    assert roi_file_for(tmp_path / "Z.rpt.txt").name == "Z.rpt-roi.txt"
    assert roi_file_for(data, "-cells.roi").name == "X-cells.roi"  # an explicit suffix


@pytest.mark.parametrize("roitype, extra, word", [
    (ROI_TYPE.LINE, {"x1": 0.0, "y1": 0.0, "x2": 5.0, "y2": 5.0}, "line"),
    (ROI_TYPE.POINT, {}, "point"),
    (ROI_TYPE.POLYLINE, {}, "polyline"),
])
def test_refuses_other_kinds(tmp_path, roitype, extra, word):
    bad = ImagejRoi.frompoints([[1, 1], [3, 4], [6, 2]], name="stroke")
    bad.roitype = roitype
    for k, v in extra.items():
        setattr(bad, k, v)
    path = tmp_path / "X_RoiSet.zip"
    roiwrite(path, [_rect("ok", 0, 0, 4, 4), bad], mode="w")
    for call in (lambda: roi_names(path), lambda: read_imagej_rois(path, pixel_size=PX)):
        with pytest.raises(DataFormatError) as exc:
            call()
        msg = str(exc.value)
        assert "X_RoiSet.zip" in msg and "'stroke'" in msg and f"is a {word} ROI" in msg


def test_corrupt_zip_member_and_not_a_zip(tmp_path):
    path = tmp_path / "X_RoiSet.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good.roi", _rect("good", 0, 0, 4, 4).tobytes())
        zf.writestr("broken.roi", b"Iout" + b"\x00" * 10)
        zf.writestr("notes.txt", b"not a ROI, skipped as ImageJ does")
    with pytest.raises(DataFormatError) as exc:
        roi_names(path)
    assert str(exc.value).count("X_RoiSet.zip") == 1 and "'broken.roi'" in str(exc.value)
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataFormatError, match="X_RoiSet.zip: not a readable zip"):
        roi_names(path)
    empty = tmp_path / "E_RoiSet.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", b"")
    with pytest.raises(DataFormatError, match="no ImageJ ROI"):
        roi_names(empty)


PIPE = Pipeline.from_cells([("stage tess --per file", "a"), ("stage infer --per roi", "b")])


def test_plan_one_task_per_imagej_roi(roiset, tmp_path):
    """A TrackMate export with X_RoiSet.zip beside it: one per-ROI task per ImageJ ROI."""
    (tmp_path / "Y.csv").write_text("TRACK_ID,FRAME\n")  # no ROI file: one whole-file task
    (tmp_path / "Y.roi").write_bytes(b"")  # a glob over '*' must not take ROI files for data
    sources = expand_sources(str(tmp_path / "*"))
    assert [s.rsplit("/", 1)[1] for s in sources] == ["X.xml", "Y.csv"]
    (tmp_path / "Y.roi").unlink()
    plan = make_plan("b", PIPE, sources)
    infer = [t for t in plan.tasks if t.stage == "infer"]
    x_tasks = [t for t in infer if t.source.endswith("X.xml")]
    assert [t.roi_index for t in x_tasks] == [0, 1, 2]
    assert {t.roi_file for t in x_tasks} == {str(roiset)}
    assert [t.roi_index for t in infer if t.source.endswith("Y.csv")] == [None]
    # what a task's cell does with its roi_file / roi_index, and the labels results can show
    df = _frame([(2.0, 2.0), (12.0, 25.0), (15.0, 8.0)])
    kept = {roi_names(t.roi_file)[t.roi_index]:
            len(crop(df, t.roi_file, index=t.roi_index, pixel_size=PX)) for t in x_tasks}
    assert kept == {"nucleus": 1, "blob": 2, "wedge": 1}
    assert resolve_rois(str(tmp_path / "X.xml"), "_RoiSet.zip") == (str(roiset), (0, 1, 2))
    assert resolve_rois(str(tmp_path / "X.xml"), "1")[1] == (1,)
