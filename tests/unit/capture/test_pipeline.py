import nbformat
import pytest

from tramway_jupyter.capture.pipeline import Pipeline, parse_magic_line
from tramway_jupyter.capture.template import build_template, pipeline_from_notebook
from tramway_jupyter.demo import CELLS, demo_pipeline
from tramway_jupyter.exceptions import CaptureError


def test_parse_lines():
    assert parse_magic_line("stage tess --per file") == ("stage", "tess", "file", False)
    assert parse_magic_line("stage infer") == ("stage", "infer", "roi", False)
    assert parse_magic_line("stage d --per segment") == ("stage", "d", "segment", False)
    assert parse_magic_line("stage t --per file --sweep-independent") == (
        "stage", "t", "file", True)
    assert parse_magic_line("setup") == ("setup", "setup", "roi", False)
    with pytest.raises(CaptureError, match="needs a name"):
        parse_magic_line("stage")
    with pytest.raises(CaptureError):
        parse_magic_line("bogus")
    with pytest.raises(CaptureError, match="stages"):
        parse_magic_line("setup --per file")
    with pytest.raises(CaptureError, match="--sweep-independent applies to stages"):
        parse_magic_line("setup --sweep-independent")


def test_recapture_replaces_in_place():
    p = Pipeline.from_cells([("parameters", "a = 1"), ("stage a --per file", "x"),
                             ("stage b", "y")])
    p.capture("stage a --per file", "x2")
    p.capture("parameters", "a = 2")
    assert [c.name for c in p.stages] == ["a", "b"]
    assert p.stage("a").source == "x2"
    assert p.parameters.source == "a = 2"
    assert len(p.cells) == 3


def test_template_has_papermill_parameters_cell():
    nb = build_template(demo_pipeline(), "infer", notebook="q.ipynb")
    nbformat.validate(nb)
    tags = [c.metadata.get("tags") for c in nb.cells]
    assert ["parameters"] in tags
    params = next(c for c in nb.cells if "parameters" in c.metadata["tags"]).source
    for name in ("source", "roi_index", "roi_file", "output_dir", "sigma"):
        assert f"{name} =" in params
    assert nb.cells[-1].source == demo_pipeline().stage("infer").source
    assert "tessellate(" not in "".join(c.source for c in nb.cells)


def test_quickstart_notebook_matches_embedded_demo(request):
    nb_path = request.config.rootpath / "notebooks" / "quickstart.ipynb"
    p = pipeline_from_notebook(nb_path)
    want = dict(CELLS)
    assert [c.name for c in p.stages] == ["tessellate", "infer"]
    assert p.stage("tessellate").source == want["stage tessellate --per file"]
    assert p.stage("infer").source == want["stage infer --per roi"]
    assert p.setup[0].source == want["setup"]
    assert want["parameters"] in p.parameters.source


def test_notebook_without_stage_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    path = tmp_path / "empty.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(CaptureError, match="no `%%tramway stage"):
        pipeline_from_notebook(path)
