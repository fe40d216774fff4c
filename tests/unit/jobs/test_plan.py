import pytest

from tramway_jupyter.analysis import write_rois
from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.exceptions import PlanError
from tramway_jupyter.jobs.plan import file_key, make_plan, resolve_rois

PIPE = Pipeline.from_cells([("stage tess --per file", "a"), ("stage infer --per roi", "b")])


@pytest.fixture
def data(tmp_path):
    for i in range(2):
        (tmp_path / f"m{i}.rpt.txt").write_text("1 0 0 0\n1 1 1 1\n")
        write_rois([[0, 0, 1, 1], [1, 1, 2, 2], [0, 1, 1, 2]], tmp_path / f"m{i}.rpt-roi.txt")
    (tmp_path / "noroi.rpt.txt").write_text("1 0 0 0\n1 1 1 1\n")
    return tmp_path


def test_expansion_dependencies_and_jobs(data):
    plan = make_plan("b", PIPE, str(data / "*.rpt.txt"), workers=2)
    tess = [t for t in plan.tasks if t.stage == "tess"]
    infer = [t for t in plan.tasks if t.stage == "infer"]
    assert len(tess) == 3 and len(infer) == 3 + 3 + 1  # noroi.rpt.txt: one whole-file task
    for t in infer:
        assert t.depends_on == (f"tess-{t.file_key}",)
    whole = next(t for t in infer if "noroi" in t.source)
    assert whole.roi_index is None and whole.roi_file is None
    # every task in exactly one job; per-ROI jobs depend on the per-file jobs of their tasks
    seen = [tid for j in plan.jobs for tid in j.task_ids]
    assert sorted(seen) == sorted(t.task_id for t in plan.tasks)
    by_job = {j.job_index: j for j in plan.jobs}
    for j in plan.jobs:
        if j.stage == "infer":
            ups = {plan.task(d).job_index for tid in j.task_ids for d in plan.task(tid).depends_on}
            assert set(j.depends_on) == ups
            assert all(by_job[u].stage == "tess" for u in ups)


def test_rois_options(data):
    src = str(data / "m0.rpt.txt")
    assert resolve_rois(src, None)[1] == (0, 1, 2)
    assert resolve_rois(src, "none") == (None, None)
    assert resolve_rois(src, "0,2")[1] == (0, 2)
    with pytest.raises(PlanError, match=r"out of range.*3 ROI"):
        resolve_rois(src, "5")
    with pytest.raises(PlanError, match="no ROI file"):
        resolve_rois(src, "_other-roi.txt")
    with pytest.raises(PlanError, match="no ROI file"):
        resolve_rois(str(data / "noroi.rpt.txt"), "all")


def test_no_match_names_the_pattern(tmp_path):
    with pytest.raises(PlanError, match="nothing-here"):
        make_plan("b", PIPE, str(tmp_path / "nothing-here*.txt"))


def test_tasks_per_job_and_fingerprints_follow_content(data):
    p1 = make_plan("b", PIPE, str(data / "m*.rpt.txt"), tasks_per_job=2)
    assert all(len(j.task_ids) <= 2 for j in p1.jobs)
    (data / "m1.rpt.txt").write_text("1 0 0 0\n1 2 2 1\n")
    p2 = make_plan("b", PIPE, str(data / "m*.rpt.txt"), tasks_per_job=2)
    fp1 = {t.task_id: t.fingerprint for t in p1.tasks}
    for t in p2.tasks:
        assert (fp1[t.task_id] == t.fingerprint) == ("m0" in t.source)


def test_file_key_is_safe():
    k = file_key(3, "/x/it's a \"file\" $(rm -rf ~).rpt.txt")
    assert k.startswith("f003-")
    assert all(c.isalnum() or c in "._-" for c in k)


def test_hash_file_sees_a_same_size_rewrite_with_the_same_mtime(tmp_path):
    import os

    from tramway_jupyter.jobs.plan import hash_file

    f = tmp_path / "a.rpt.txt"
    f.write_text("1 0 0 0\n")
    before = os.stat(f)
    h1 = hash_file(str(f))
    assert hash_file(str(f)) == h1
    f.write_text("2 0 0 0\n")  # same size
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the same mtime
    after = os.stat(f)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert hash_file(str(f)) != h1


def test_hash_file_memo_keyed_on_identity_and_change_times(tmp_path, monkeypatch):
    import os

    from tramway_jupyter.jobs import plan

    monkeypatch.setattr(plan, "RECENT_CHANGE_NS", 0)  # memoise even files just written
    f = tmp_path / "old.txt"
    f.write_text("abc")
    h = plan.hash_file(str(f))
    st = os.stat(f)
    f.write_text("abd")  # same size, same mtime: its ctime tells
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    h2 = plan.hash_file(str(f))
    assert h2 != h
    # replaced by another file (a new inode) of the same size and mtime: hashed again
    st = os.stat(f)
    g = tmp_path / "new.txt"
    g.write_text("xyz")
    os.utime(g, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(g, f)
    assert plan.hash_file(str(f)) not in (h, h2)
