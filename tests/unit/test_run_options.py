import argparse

import pytest

from tramway_jupyter.capture.pipeline import Pipeline
from tramway_jupyter.exceptions import CaptureError
from tramway_jupyter.orchestration.submit import check_param_names
from tramway_jupyter.run_options import add_run_options, parse_params, run_kwargs


@pytest.mark.parametrize("item, value", [
    ("k=3", 3), ("k=0.5", 0.5), ("k=True", True), ("k=None", None), ("k=[1, 2]", [1, 2]),
    ("k='a b'", "a b"), ("k=(1,2)", (1, 2)), ("k={'a': 1}", {"a": 1}), ("k=-2e-3", -2e-3),
    ("k=hexagons", "hexagons"), ("k=data/a.rpt.txt", "data/a.rpt.txt"), ("k=true", "true"),
    ("k=~/x_y-z", "~/x_y-z"), ("k=1.2.3", "1.2.3"),
])
def test_values_literals_or_plain_words(item, value):
    assert parse_params([item]) == {"k": value}


@pytest.mark.parametrize("item", ["k=[1,2", "k={'a': 1", "k=a b", "k='x", "k=f(1)", "k=",
                                  "k=x[0]", 'k="unterminated'])
def test_malformed_values_are_refused_naming_the_parameter(item):
    with pytest.raises(CaptureError, match=r"--param k=.*not a Python literal"):
        parse_params([item])


def test_run_kwargs_carry_the_opt_in():
    p = argparse.ArgumentParser()
    add_run_options(p)
    assert run_kwargs(p.parse_args(["--param", "a=1"]))["new_params"] is False
    assert run_kwargs(p.parse_args(["--param", "a=1", "--new-param"]))["new_params"] is True


PIPE = Pipeline.from_cells([("parameters", "a = 1\nb: int = 2\n(c, [d, *e]) = 3, [4, 5]\n"
                                           "if True:\n    hidden = 1"),
                            ("stage s --per file", "pass")])


def test_parameter_names_of_the_cell():
    assert PIPE.parameter_names() == ["a", "b", "c", "d", "e"]
    assert Pipeline.from_cells([("stage s", "x")]).parameter_names() == []


def test_unknown_names_are_refused_unless_opted_in():
    check_param_names(PIPE, {"a": 2, "e": 1})
    with pytest.raises(CaptureError, match=r"--param aa, hidden: not a parameter .*defines "
                                           r"a, b, c, d, e\)"):
        check_param_names(PIPE, {"aa": 1, "hidden": 2})
    check_param_names(PIPE, {"aa": 1}, allow_new=True)
    with pytest.raises(CaptureError, match="no parameters cell"):
        check_param_names(Pipeline.from_cells([("stage s", "x")]), {"a": 1})
    with pytest.raises(CaptureError, match="roi_index: set for each task"):
        check_param_names(PIPE, {"roi_index": 1}, allow_new=True)


def test_pixel_size_and_frame_interval_are_ordinary_parameters():
    p = argparse.ArgumentParser()
    add_run_options(p)
    kw = run_kwargs(p.parse_args(["--pixel-size", "0.16", "--frame-interval", "0.05",
                                  "--param", "sigma=0.03"]))
    assert kw["params"] == {"sigma": 0.03, "pixel_size": 0.16, "frame_interval": 0.05}
    assert run_kwargs(p.parse_args([]))["params"] == {}
    with pytest.raises(CaptureError, match="--pixel-size 0.16 and --param pixel_size=0.2"):
        run_kwargs(p.parse_args(["--pixel-size", "0.16", "--param", "pixel_size=0.2"]))
    with pytest.raises(CaptureError, match="--frame-interval -1.0: must be a positive"):
        run_kwargs(p.parse_args(["--frame-interval", "-1"]))
    # a notebook whose parameters cell does not define them is told so, as for --param
    with pytest.raises(CaptureError, match="pixel_size: not a parameter"):
        check_param_names(PIPE, {"pixel_size": 0.16})
