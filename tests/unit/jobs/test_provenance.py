"""The provenance record's parts: setup-cell imports, the environment, the image digest cache."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess

import numpy as np
import pandas as pd

from tramway_jupyter._version import __version__
from tramway_jupyter.jobs import provenance as prov
from tramway_jupyter.jobs.rerun import records_equal


def test_setup_imports_top_level_names_in_order_without_relative_or_broken_cells():
    cells = [
        "import os, numpy as np\nimport scipy.stats\nfrom pandas import DataFrame",
        "from . import local\nfrom .sibling import x\nimport tramway_jupyter as tj",
        "def f(:\n  import nothing_here",  # does not parse: skipped
        "if True:\n    from matplotlib.pyplot import plot\nimport numpy",
    ]
    assert prov.setup_imports(cells) == ["os", "numpy", "scipy", "pandas", "tramway_jupyter",
                                         "matplotlib"]


def test_package_versions_skip_stdlib_and_unknown_and_map_modules_to_distributions():
    import importlib.metadata as md

    v = prov.package_versions(["os", "json", "numpy", "yaml_not_installed_xyz", "msgspec"])
    assert v == {"numpy": md.version("numpy"), "msgspec": md.version("msgspec")}


def test_environment_versions_slurm_ids_git_and_digest_stability(tmp_path):
    env = prov.environment(
        modules=["msgspec", "os"], backend="slurm", profile="cluster", git_commit="abc",
        git_dirty=True,
        environ={"SLURM_JOB_ID": "101", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "3"})
    assert env.tramway_jupyter == __version__ and env.python == platform.python_version()
    assert set(env.packages) == {"numpy", "scipy", "pandas", "msgspec"}
    assert env.packages["numpy"] == np.__version__ and env.packages["pandas"] == pd.__version__
    assert (env.slurm_job_id, env.slurm_array_job_id, env.slurm_array_task_id) == \
        ("101", "100", "3")
    assert env.backend == "slurm" and env.profile == "cluster"
    assert env.git_commit == "abc" and env.git_dirty is True
    assert env.container_image is None and env.container_digest is None
    same = prov.environment(modules=["msgspec", "os"], backend="slurm", profile="cluster",
                            git_commit="abc", git_dirty=True,
                            environ={"SLURM_JOB_ID": "101", "SLURM_ARRAY_JOB_ID": "100",
                                     "SLURM_ARRAY_TASK_ID": "3"})
    assert same.digest() == env.digest()
    other = prov.environment(modules=["msgspec"], environ={"SLURM_ARRAY_TASK_ID": "4"})
    assert other.digest() != env.digest() and other.slurm_job_id is None
    # written once, read back the same
    digest = prov.write_environment(tmp_path, env)
    assert prov.read_environment(tmp_path, digest) == env


def test_environment_in_a_container_records_the_image_and_its_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    image = tmp_path / "img.sif"
    image.write_bytes(b"\x00image" * 1000)
    env = prov.environment(environ={"APPTAINER_CONTAINER": str(image)})
    assert env.container_image == str(image)
    assert env.container_digest == hashlib.sha256(image.read_bytes()).hexdigest()
    env2 = prov.environment(environ={prov.CONTAINER_IMAGE_ENV: "docker://python:3.11"})
    assert env2.container_image == "docker://python:3.11" and env2.container_digest is None


def test_image_digest_is_cached_beside_the_image_keyed_by_path_size_mtime(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    image = tmp_path / "a.sif"
    image.write_bytes(b"one")
    d1 = prov.image_digest(str(image))
    assert d1 == hashlib.sha256(b"one").hexdigest()
    cache = tmp_path / "a.sif.sha256.json"
    doc = json.loads(cache.read_text())
    assert doc["sha256"] == d1 and doc["size"] == 3
    # another process reads the cache, not the image: a forged digest shows it is used
    prov._image_digest_cached.cache_clear()
    cache.write_text(json.dumps({**doc, "sha256": "from-cache"}))
    assert prov.image_digest(str(image)) == "from-cache"
    # a changed image (size or mtime) is hashed again
    prov._image_digest_cached.cache_clear()
    image.write_bytes(b"two!")
    assert prov.image_digest(str(image)) == hashlib.sha256(b"two!").hexdigest()
    assert prov.image_digest(str(tmp_path / "missing.sif")) is None


def test_image_digest_cache_goes_to_the_user_cache_when_it_cannot_be_beside_the_image(
        tmp_path, monkeypatch):
    """Where nothing can be written beside the image (here a directory stands where the cache
    file would go: unwritable even for root), the digest is cached in the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    image = tmp_path / "b.sif"
    image.write_bytes(b"read only")
    (tmp_path / "b.sif.sha256.json").mkdir()
    prov._image_digest_cached.cache_clear()
    assert prov.image_digest(str(image)) == hashlib.sha256(b"read only").hexdigest()
    assert (tmp_path / "b.sif.sha256.json").is_dir()
    assert len(list((tmp_path / "cache" / "tramway-jupyter" / "image-digests").iterdir())) == 1


def test_git_state_commit_and_dirty_or_none(tmp_path):
    assert prov.git_state(tmp_path) == (None, None)
    assert prov.git_state(None) == (None, None)
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "nb.ipynb").write_text("{}")
    subprocess.run([*git, "add", "nb.ipynb"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert prov.git_state(repo) == (head.strip(), False)
    (repo / "nb.ipynb").write_text('{"changed": 1}')
    assert prov.git_state(repo) == (head.strip(), True)


def test_template_digest_same_for_nbformat_nodes_and_plain_json(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("x = 1\ny = 2")]
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    plain = json.loads(path.read_text())
    plain["cells"][1]["source"] = ["x = 1\n", "y = 2"]  # as a list of lines
    assert prov.template_digest(nb) == prov.template_digest(plain)
    cells = [("code", "x = 1\ny = 2")]
    assert prov.template_digest(nb) == hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def test_records_equal_is_exact_and_numpy_pandas_aware():
    a = {"x": np.array([1.0, np.nan]), "df": pd.DataFrame({"a": [1, 2]}), "n": [1, (2.5,)]}
    b = {"x": np.array([1.0, np.nan]), "df": pd.DataFrame({"a": [1, 2]}), "n": [1, (2.5,)]}
    assert records_equal(a, b)
    assert not records_equal(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-15]))
    assert not records_equal(np.array([1, 2]), np.array([1.0, 2.0]))  # dtype differs
    assert not records_equal(pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [1, 3]}))
    assert not records_equal({"x": 1}, {"y": 1})
    assert records_equal(float("nan"), float("nan")) and not records_equal(1, 1.0)
