"""How a result was made: the provenance record of each task.

A task's record (``provenance/<task_id>.json`` in the batch directory, and the
``metadata.tramway_jupyter.provenance`` of its output notebook) holds what is specific to the
task: the digest of its stage's template (the pipeline cells), the content hash of every input
(data file, ROI file, upstream tasks' results), the parameters injected into it. What is the same
for every task a worker process runs (versions, host, backend, profile, Slurm ids, container
image and digest, the notebook's git commit) is the :class:`Environment`, computed once per
worker process and written once as ``provenance/env-<hash>.json``; the task record names it by
hash (and the output notebook carries it whole, so a notebook alone tells its story).

The git commit is read on the submitting host at submit time (:func:`git_state`) and stored in
``batch.json``; the worker copies it from there. A container image's sha256 is computed once per
image file and cached beside it (or in ``~/.cache/tramway-jupyter/``), keyed by path, size and
mtime (:func:`image_digest`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from . import nbjson
from .batchdir import atomic_write_bytes

__all__ = ["Environment", "InputHash", "TaskProvenance", "setup_imports", "package_versions",
           "environment", "image_digest", "git_state", "template_digest", "PROVENANCE_DIR",
           "read_task", "read_environment", "task_document", "task_provenance_for",
           "CONTAINER_IMAGE_ENV"]

PROVENANCE_DIR = "provenance"
#: Set by the container wrapper (``backends/slurm.py``): the image the worker runs in.
CONTAINER_IMAGE_ENV = "TRAMWAY_JUPYTER_CONTAINER_IMAGE"
#: Always recorded, whatever the setup cell imports.
CORE_PACKAGES = ("numpy", "scipy", "pandas")
#: Slurm's variables, as submitit maps them: field -> environment variable.
SLURM_ENV = {"slurm_job_id": "SLURM_JOB_ID", "slurm_array_job_id": "SLURM_ARRAY_JOB_ID",
             "slurm_array_task_id": "SLURM_ARRAY_TASK_ID"}


class Environment(msgspec.Struct, kw_only=True, frozen=True):
    """Where and with what a worker process ran its tasks."""

    tramway_jupyter: str
    python: str
    packages: dict[str, str] = {}  # distribution -> version: numpy, scipy, pandas, setup imports
    host: str = ""
    platform: str = ""
    backend: str | None = None
    profile: str | None = None
    slurm_job_id: str | None = None
    slurm_array_job_id: str | None = None
    slurm_array_task_id: str | None = None
    container_image: str | None = None
    container_digest: str | None = None  # sha256 of the image file
    git_commit: str | None = None  # of the notebook's repository, at submit time
    git_dirty: bool | None = None

    def digest(self) -> str:
        """A short hash of the record: the name of its ``env-<hash>.json``."""
        return hashlib.sha256(_ENCODER.encode(self)).hexdigest()[:16]


class InputHash(msgspec.Struct, kw_only=True, frozen=True):
    """One input of a task and its content hash (sha256)."""

    role: str  # "data", "rois" or "upstream"
    path: str  # as submitted (data, ROI file) or relative to the batch directory (upstream)
    sha256: str | None  # None: the file did not exist (an upstream task that recorded nothing)
    task_id: str | None = None  # the upstream task
    fingerprint: str | None = None  # the upstream task's fingerprint (its own inputs, hashed)


class TaskProvenance(msgspec.Struct, kw_only=True):
    """How one task was made: ``provenance/<task_id>.json``."""

    task_id: str
    batch_id: str
    stage: str
    attempt: int = 1
    fingerprint: str = ""
    template: str = ""  # templates/<stage>.ipynb, relative to the batch directory
    template_digest: str = ""  # sha256 of the template's code cells (the pipeline cells)
    inputs: list[InputHash] = []
    parameters: dict[str, Any] = {}  # every injected parameter: standard, swept and user
    env: str = ""  # the Environment's digest: provenance/env-<env>.json
    environment: Environment | None = None  # set when read with the environment resolved


# -- the environment, once per worker process ----------------------------------------------
def setup_imports(sources: Iterable[str]) -> list[str]:
    """The top-level modules the cells import (``import a.b`` and ``from a import b`` give
    ``a``), in order of first import; relative imports and cells that do not parse are skipped."""
    out: list[str] = []
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                if top and top not in out:
                    out.append(top)
    return out


@lru_cache(maxsize=1)
def _module_distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return dict(packages_distributions())


def package_versions(modules: Iterable[str]) -> dict[str, str]:
    """{distribution: version} of the modules' distributions; stdlib and unknown are skipped."""
    from importlib.metadata import PackageNotFoundError, version

    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    out: dict[str, str] = {}
    for mod in modules:
        if mod in stdlib or mod in sys.builtin_module_names:
            continue
        dists = _module_distributions().get(mod) or [mod]
        for dist in dists:
            try:
                out[dist] = version(dist)
            except PackageNotFoundError:
                continue
    return out


def template_setup_sources(template: dict[str, Any]) -> list[str]:
    """The sources of a stage template's setup cells (tagged ``tramway-setup``)."""
    return [nbjson.cell_source(c) for c in template.get("cells", [])
            if "tramway-setup" in c.get("metadata", {}).get("tags", [])]


def template_digest(nb: Any) -> str:
    """sha256 of a template's code cells: the pipeline cells a task ran (plain dicts or nbformat
    nodes). The same digest the plan's fingerprints use."""
    cells = [(c["cell_type"], nbjson.cell_source(c)) for c in nb["cells"]
             if c["cell_type"] == "code"]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


@lru_cache(maxsize=1)
def _base_environment() -> tuple[str, str, str, str]:
    from .._version import __version__

    return (__version__, platform.python_version(), socket.gethostname(),
            platform.platform(terse=True))


@lru_cache(maxsize=64)
def _versions(modules: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(package_versions((*CORE_PACKAGES, *modules)).items())


def environment(*, modules: Iterable[str] = (), backend: str | None = None,
                profile: str | None = None, git_commit: str | None = None,
                git_dirty: bool | None = None,
                environ: dict[str, str] | None = None) -> Environment:
    """This process's environment (the costly parts are computed once per process)."""
    env = os.environ if environ is None else environ
    version, python, host, plat = _base_environment()
    image = env.get(CONTAINER_IMAGE_ENV) or env.get("APPTAINER_CONTAINER") \
        or env.get("SINGULARITY_CONTAINER") or None
    return Environment(
        tramway_jupyter=version, python=python, packages=dict(_versions(tuple(modules))),
        host=host, platform=plat, backend=backend, profile=profile,
        container_image=image, container_digest=image_digest(image) if image else None,
        git_commit=git_commit, git_dirty=git_dirty,
        **{k: env.get(v) or None for k, v in SLURM_ENV.items()})


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tramway-jupyter"


@lru_cache(maxsize=16)
def _image_digest_cached(path: str, size: int, mtime_ns: int) -> str | None:
    key = f"{path}\0{size}\0{mtime_ns}"
    beside = Path(path + ".sha256.json")
    shared = _cache_dir() / "image-digests" / (hashlib.sha256(key.encode()).hexdigest() + ".json")
    for cache in (beside, shared):
        try:
            doc = json.loads(cache.read_text())
            if doc.get("key") == key:
                return str(doc["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    digest = h.hexdigest()
    data = json.dumps({"key": key, "path": path, "size": size, "mtime_ns": mtime_ns,
                       "sha256": digest}).encode()
    for cache in (beside, shared):  # beside the image if writable, else in the user's cache
        try:
            atomic_write_bytes(cache, data)
            break
        except OSError:
            continue
    return digest


def image_digest(path: str) -> str | None:
    """sha256 of a container image file, cached by path, size and mtime; None if not a file
    (e.g. a ``docker://`` reference or an unreadable path)."""
    try:
        st = os.stat(path)
        if not os.path.isfile(path):
            return None
        return _image_digest_cached(os.path.abspath(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return None


def git_state(directory: str | os.PathLike[str] | None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository holding ``directory``; (None, None) if none or no git."""
    if directory is None:
        return None, None
    try:
        head = subprocess.run(["git", "-C", os.fspath(directory), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=30)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", os.fspath(directory), "status", "--porcelain"],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None, None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return head.stdout.strip() or None, dirty


# -- files ---------------------------------------------------------------------------------
_ENCODER = msgspec.json.Encoder(enc_hook=str, order="sorted")
_TASK_DECODER = msgspec.json.Decoder(TaskProvenance)
_ENV_DECODER = msgspec.json.Decoder(Environment)


def jsonable(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as JSON values (paths and other objects as their ``str``)."""
    return msgspec.json.decode(_ENCODER.encode(params))  # type: ignore[no-any-return]


def task_path(root: Path, task_id: str) -> Path:
    return root / PROVENANCE_DIR / f"{task_id}.json"


def env_path(root: Path, digest: str) -> Path:
    return root / PROVENANCE_DIR / f"env-{digest}.json"


def write_environment(root: Path, env: Environment) -> str:
    """Write ``provenance/env-<hash>.json`` if it is not there yet; return the hash."""
    digest = env.digest()
    path = env_path(root, digest)
    if not path.exists():
        atomic_write_bytes(path, _ENCODER.encode(env))
    return digest


def write_task(root: Path, record: TaskProvenance) -> None:
    doc = to_builtins(record)
    doc.pop("environment", None)  # the task record names its environment by hash
    atomic_write_bytes(task_path(root, record.task_id), _ENCODER.encode(doc))


def read_environment(root: Path, digest: str) -> Environment | None:
    try:
        return _ENV_DECODER.decode(env_path(root, digest).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None


def read_task(root: Path, task_id: str, *, resolve: bool = True) -> TaskProvenance | None:
    """A task's record (with its environment when ``resolve``), or None if it has none."""
    try:
        rec = _TASK_DECODER.decode(task_path(root, task_id).read_bytes())
    except FileNotFoundError:
        return None
    if resolve and rec.env:
        rec.environment = read_environment(root, rec.env)
    return rec


def to_builtins(record: TaskProvenance) -> dict[str, Any]:
    return msgspec.json.decode(_ENCODER.encode(record))  # type: ignore[no-any-return]


_env_docs: dict[tuple[str, str], dict[str, Any] | None] = {}


def task_document(root: Path, task_id: str) -> dict[str, Any] | None:
    """A task's provenance as a JSON object, its environment inlined (for ``--json``); None
    when the task has no record. Environments are read once per batch directory."""
    rec = read_task(root, task_id, resolve=False)
    if rec is None:
        return None
    doc = to_builtins(rec)
    key = (str(root), rec.env)
    if key not in _env_docs:
        env = read_environment(root, rec.env) if rec.env else None
        _env_docs[key] = msgspec.to_builtins(env) if env is not None else None
    doc["environment"] = _env_docs[key]
    return doc


# -- the worker's side ---------------------------------------------------------------------
_written_envs: set[tuple[str, str]] = set()


def task_provenance_for(batch_dir: Any, plan: Any, task: Any, attempt: int,
                        params: dict[str, Any], template: dict[str, Any], info: dict[str, Any],
                        path_map: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Make and write a task's record (and its environment's, once per process); return both
    as JSON objects, for the output notebook's metadata.

    ``batch_dir`` is the task's :class:`~.batchdir.BatchDir`, ``plan`` its plan, ``info`` the
    batch's ``batch.json``, ``path_map`` the worker's mapping of submitted paths to this host.
    Inputs are hashed here, as the worker sees them (``plan.hash_file``: once per file and process).
    """
    from .plan import hash_file

    root: Path = batch_dir.root
    env = environment(modules=setup_imports(template_setup_sources(template)),
                      backend=info.get("backend"),
                      profile=info.get("profile"), git_commit=info.get("git_commit"),
                      git_dirty=info.get("git_dirty"))
    digest = env.digest()
    if (str(root), digest) not in _written_envs:
        write_environment(root, env)
        _written_envs.add((str(root), digest))
    inputs = [InputHash(role="data", path=task.source, sha256=hash_file(path_map(task.source)))]
    if task.roi_file:
        inputs.append(InputHash(role="rois", path=task.roi_file,
                                sha256=hash_file(path_map(task.roi_file))))
    for dep in task.depends_on:
        res = batch_dir.results_path(dep)
        inputs.append(InputHash(role="upstream", path=batch_dir.relative(res),
                                sha256=hash_file(str(res)) if res.exists() else None,
                                task_id=dep, fingerprint=plan.task(dep).fingerprint))
    rec = TaskProvenance(
        task_id=task.task_id, batch_id=plan.batch_id, stage=task.stage, attempt=attempt,
        fingerprint=task.fingerprint, template=f"templates/{task.stage}.ipynb",
        template_digest=template_digest(template), inputs=inputs, parameters=jsonable(params),
        env=digest)
    write_task(root, rec)
    return to_builtins(rec), msgspec.to_builtins(env)
