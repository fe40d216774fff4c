import math

import pytest
from papermill.translators import PythonTranslator

from tramway_jupyter.jobs.parameters import codify

VALUES = {
    "source": "/data/it's a \"file\" $(touch x) \\ é.rpt.txt",
    "roi_index": 3,
    "none": None,
    "flag": True,
    "x": 0.1,
    "nan": math.nan,
    "inf": -math.inf,
    "lst": [1, "a", None, [2.5]],
    "d": {"k": "v", "n": 1},
}


@pytest.mark.parametrize("name", list(VALUES))
def test_same_as_papermill(name, monkeypatch):
    import papermill.translators as t

    monkeypatch.setattr(t.PythonTranslator, "codify", classmethod(t.Translator.codify.__func__))
    params = {name: VALUES[name]}
    assert codify(params) == PythonTranslator.codify(params)


def test_round_trip_through_python():
    ns: dict = {}
    exec(codify(VALUES), ns)
    assert ns["source"] == VALUES["source"]
    assert ns["lst"] == VALUES["lst"] and ns["d"] == VALUES["d"]
    assert math.isnan(ns["nan"]) and ns["inf"] == -math.inf
