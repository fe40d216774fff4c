"""container.wrap and the image registry: pure builders, exact command lines."""

from __future__ import annotations

import shlex

import pytest

from tramway_jupyter.backends import container as ctr

from . import golden

CMD = ["/opt/venv/bin/python", "-m", "tramway_jupyter.worker", "--path-map", "/data/my lab=/pasteur/lab",
       "/scratch/u/b 1"]


def test_wrap_golden_exact_command_line():
    spec = ctr.ContainerSpec(
        image="/home/u/tramway-jupyter.sif",
        runtime="singularity",
        options=("-B /pasteur", "--cleanenv"),
        binds=ctr.binds_for("/scratch/u", {"/data/my lab": "/pasteur/lab"}),
        remote_dependencies="module load singularity",
        pwd="/scratch/u/b 1",
    )
    line = ctr.wrap(CMD, spec)
    golden.check("container_wrap.txt", line + "\n")
    assert line.startswith("module load singularity && singularity exec -B /pasteur --cleanenv ")
    words = shlex.split(line.split(" && ", 1)[1])
    assert words[words.index("/home/u/tramway-jupyter.sif") + 1:] == CMD


def test_wrap_without_dependencies_or_binds():
    line = ctr.wrap(["python3", "-V"], ctr.ContainerSpec(image="img.sif"))
    assert line == "apptainer exec img.sif python3 -V"


def test_wrap_quotes_everything():
    line = ctr.wrap(["python3", "$(touch /tmp/pwned)"],
                    ctr.ContainerSpec(image="/i/a b.sif", binds=("/x y",)))
    assert shlex.split(line) == ["apptainer", "exec", "--bind", "/x y", "/i/a b.sif", "python3",
                                 "$(touch /tmp/pwned)"]


def test_binds_dedupe_and_skip_root():
    assert ctr.binds_for("/scratch/u/", {"/a": "/scratch/u", "/b": "/data"}, ["/"]) == (
        "/scratch/u", "/data")


@pytest.mark.parametrize("container,expected", [
    ("/shared/img.sif", "/shared/img.sif"),
    ("img.sif", "/home/u/img.sif"),  # TRamWAy: relative to $HOME
    ("~/imgs/img.sif", "/home/u/imgs/img.sif"),
    ("docker://python:3.11", "docker://python:3.11"),
])
def test_resolve_image_paths(container, expected):
    r = ctr.resolve_image(container, "/home/u")
    assert r.path == expected and r.fetch_line is None


def test_resolve_registered_url_downloads_once():
    r = ctr.resolve_image("tj", "/home/u", {"tj": "https://example.org/x/tramway-jupyter-0.1.sif?dl=1"})
    assert r.path == "/home/u/.cache/tramway-jupyter/images/tramway-jupyter-0.1.sif"
    assert r.fetch_line is not None and r.fetch_line.startswith("test -s ")
    assert "curl -fsSL" in r.fetch_line and "wget" in r.fetch_line


def test_global_registry():
    ctr.register_image("lab-image", "/shared/lab.sif")
    try:
        assert ctr.resolve_image("lab-image", "/home/u").path == "/shared/lab.sif"
    finally:
        ctr.IMAGES.pop("lab-image")
