"""Plans over TrackMate/CSV data files: globs take them, time windows read them with the units."""

import pytest

from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.jobs.plan import expand_sources, make_plan
from tramway_jupyter.jobs.taskspace import SegmentSpec

PIPE = Pipeline.from_cells([("stage infer --per segment", "b")])
CSV = "particle,frame,x,y\n" + "".join(f"0,{f},{f * 0.5},1.0\n" for f in range(200))


def test_globs_take_xml_and_csv_but_not_roi_files(tmp_path):
    for name in ("a.xml", "b.csv", "c.rpt.txt", "c.rpt-roi.txt"):
        (tmp_path / name).write_text("x")
    found = [p.rsplit("/", 1)[1] for p in expand_sources(str(tmp_path / "*"))]
    assert found == ["a.xml", "b.csv", "c.rpt.txt"]


def test_time_windows_of_a_file_in_frames_use_the_run_parameters(tmp_path):
    (tmp_path / "tp.csv").write_text(CSV)
    spec = SegmentSpec(duration=4.0)
    with pytest.raises(ValueError, match=r"tp\.csv.*units"):
        make_plan("b", PIPE, str(tmp_path / "tp.csv"), segments=spec)
    plan = make_plan("b", PIPE, str(tmp_path / "tp.csv"), segments=spec,
                     params={"pixel_size": 0.1, "frame_interval": 0.05})
    # 200 frames of 0.05 s span 9.95 s: [0, 4) and [4, 8); the rest (1.95 s) is under half
    assert [(t.t_start, t.t_end) for t in plan.tasks] == [(0.0, 4.0), (4.0, 8.0)]
