import pytest

from tramway_jupyter.analysis import write_rois
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.exceptions import PlanError, TramwayJupyterError
from tramway_jupyter.jobs.plan import _parse_selection, make_plan, resolve_rois

PIPE = Pipeline.from_cells([("stage tess --per file", "a"), ("stage infer --per roi", "b")])


@pytest.fixture
def src(tmp_path):
    (tmp_path / "m.rpt.txt").write_text("1 0 0 0\n1 1 1 1\n")
    write_rois([[0, 0, 1, 1], [1, 1, 2, 2], [0, 1, 1, 2]], tmp_path / "m.rpt-roi.txt")
    return str(tmp_path / "m.rpt.txt")


@pytest.mark.parametrize("spec, expected", [
    ("0", [0]), ("0,0,0", [0]), ("2, 0-1,1", [2, 0, 1]), ("1-1", [1]), (" 0 - 2 ", [0, 1, 2]),
    ("-roi.txt", None), ("_cells-roi.txt", None),
])
def test_selection_parsing(spec, expected):
    assert _parse_selection(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("2-0", "the range 2-0 is empty"), ("-1", "'-1' is a negative index"),
    ("0,,1", "an empty item"), ("1-2-3", "'1-2-3' is not an index or a range"),
    ("3-", "'3-' is not an index"),
])
def test_bad_selections_name_the_selection_and_the_rule(spec, message):
    with pytest.raises(PlanError) as err:
        _parse_selection(spec)
    assert f"--rois {spec}" in str(err.value) and message in str(err.value)
    assert "a <= b" in str(err.value)


def test_out_of_range_names_file_and_count(src):
    with pytest.raises(PlanError, match=r"\[3, 4\] out of range for .*m\.rpt-roi\.txt, which "
                                        r"holds 3 ROI\(s\) \(indices 0 to 2\)"):
        resolve_rois(src, "1,3-4")


def test_api_lists_and_empty_selection(src):
    assert resolve_rois(src, [2, 0, 2])[1] == (2, 0)
    with pytest.raises(PlanError, match="--rois is empty"):
        resolve_rois(src, [])
    with pytest.raises(PlanError, match="integers only"):
        resolve_rois(src, ["0"])


def test_malformed_selection_fails_before_reading_files(tmp_path):
    # no data file at all: the selection error comes first
    with pytest.raises(PlanError, match="--rois 2-0"):
        make_plan("b", PIPE, str(tmp_path / "*.txt"), rois="2-0")


def test_plan_with_repeats_has_one_task_per_roi(src):
    plan = make_plan("b", PIPE, src, rois="1,1,0-1")
    assert [t.roi_index for t in plan.tasks if t.stage == "infer"] == [1, 0]


def test_empty_roi_file_is_refused(tmp_path, src):
    (tmp_path / "m.rpt-roi.txt").write_text("")
    with pytest.raises(TramwayJupyterError, match=r"m\.rpt-roi\.txt.*(empty|no ROI)"):
        make_plan("b", PIPE, src)
