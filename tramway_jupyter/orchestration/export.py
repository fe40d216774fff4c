"""Export a batch as an RO-Crate: its results with how they were made, ready for deposit.

The crate (https://w3id.org/ro/crate, written with the ``rocrate`` package, extra ``[lab]``):

* the root dataset describes the batch: its name, when it was made, the notebook;
* one ``File`` per data file and ROI file, with its ``sha256``;
* the stage templates (``templates/<stage>.ipynb``), the pipeline: ``File`` +
  ``SoftwareSourceCode`` + ``ComputationalWorkflow``, with the digest of their code cells;
* per task, its results (``results/<task>.pkl`` and ``.json``), output notebook and provenance
  record as ``File``s, and a ``CreateAction`` whose ``instrument`` is its template and the
  software of its environment (``SoftwareApplication``s with their versions), whose ``object``
  is its inputs and parameters (``PropertyValue``s), whose ``result`` is its files;
* the provenance records (``provenance/*.json``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from ..exceptions import MissingDependencyError, ProvenanceError
from ..jobs import nbjson
from ..jobs.batchdir import BatchDir
from ..jobs.plan import hash_file
from ..jobs.provenance import PROVENANCE_DIR, read_environment, read_task, template_digest

__all__ = ["export_crate"]


def _iso(t: float | None) -> str | None:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat() if t else None


def export_crate(batch_dir: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                 include_data: bool = True) -> Path:
    """Write the batch in ``batch_dir`` as an RO-Crate in ``dest``; return ``dest``.

    ``include_data``: copy the data and ROI files into the crate (``data/``); else they are
    referenced by their ``file://`` URI, with their sha256.
    """
    try:
        from rocrate.model.contextentity import ContextEntity
        from rocrate.rocrate import ROCrate
    except ImportError:
        raise MissingDependencyError("tramway-jupyter export needs the rocrate package: "
                                     "install `tramway-jupyter[lab]` (or `pip install rocrate`)"
                                     ) from None
    bd = BatchDir(batch_dir)
    out = Path(dest)
    if out.exists() and any(out.iterdir()):
        raise ProvenanceError(f"cannot export batch {bd.root.name} to {out}: not empty")
    plan = bd.read_plan()
    info = bd.read_info() if bd.info_path.exists() else {}
    statuses = bd.read_statuses()
    crate = ROCrate()
    root = crate.root_dataset
    root["name"] = info.get("name") or plan.batch_id
    root["identifier"] = plan.batch_id
    root["description"] = (f"tramway-jupyter batch {plan.batch_id}: stages "
                           f"{', '.join(s.name for s in plan.stages)}, {len(plan.tasks)} task(s)")
    if info.get("created"):
        root["dateCreated"] = _iso(info["created"])
    root["datePublished"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
    nb_path = info.get("notebook")
    if nb_path and os.path.isfile(nb_path):
        nb = crate.add_file(nb_path, dest_path=f"notebook/{os.path.basename(nb_path)}", properties={
            "@type": ["File", "SoftwareSourceCode"], "name": "the notebook",
            "encodingFormat": "application/x-ipynb+json", "sha256": hash_file(nb_path),
            "programmingLanguage": "Python"})
        root["mainEntity"] = nb
    elif nb_path:
        root["description"] += f"; notebook {nb_path}"
    if info.get("git_commit"):
        root["version"] = info["git_commit"] + (" (dirty)" if info.get("git_dirty") else "")

    # the inputs
    data: dict[str, Any] = {}
    for t in plan.tasks:
        for role, path in (("data", t.source), ("rois", t.roi_file)):
            if not path or path in data:
                continue
            fprops = {"name": os.path.basename(path), "sha256": hash_file(path)
                      if os.path.exists(path) else None,
                      "description": f"{'ROI file' if role == 'rois' else 'data file'} {path}"}
            if include_data and os.path.exists(path):
                data[path] = crate.add_file(path, dest_path=f"data/{t.file_key}/"
                                            f"{os.path.basename(path)}", properties=fprops)
            else:
                data[path] = crate.add(ContextEntity(crate, Path(path).absolute().as_uri(),
                                                     properties={"@type": "File", **fprops}))
    # the pipeline
    stages: dict[str, Any] = {}
    for spec in plan.stages:
        tmpl = bd.template_path(spec.name)
        stages[spec.name] = crate.add_file(tmpl, dest_path=bd.relative(tmpl), properties={
            "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
            "name": f"stage {spec.name} (per {spec.per})", "programmingLanguage": "Python",
            "encodingFormat": "application/x-ipynb+json",
            "sha256": template_digest(nbjson.read_notebook(tmpl)),
            "description": "the pipeline cells of this stage (sha256: of its code cells)"})

    software: dict[tuple[str, str], Any] = {}

    def _software(name: str, version: str) -> Any:
        if (name, version) not in software:
            software[(name, version)] = crate.add(ContextEntity(
                crate, f"#software-{name}-{version}",
                properties={"@type": "SoftwareApplication", "name": name,
                            "softwareVersion": version}))
        return software[(name, version)]

    files: dict[str, Any] = {}

    def _file(rel: str, **props: Any) -> Any:
        if rel not in files:
            files[rel] = crate.add_file(bd.root / rel, dest_path=rel, properties=props)
        return files[rel]

    for t in plan.tasks:
        rec = read_task(bd.root, t.task_id)
        st = statuses.get(t.task_id)
        result = []
        for rel in (f"results/{t.task_id}.pkl", f"results/{t.task_id}.json",
                    f"notebooks/{t.task_id}.ipynb"):
            if (bd.root / rel).exists():
                result.append(_file(rel, name=f"{rel.split('/')[0][:-1]} of task {t.task_id}"))
        objects: list[Any] = [data[p] for p in (t.source, t.roi_file) if p]
        instrument: list[Any] = [stages[t.stage]]
        description = (f"stage {t.stage} on {os.path.basename(t.source)}"
                       + (f" ROI {t.roi_index}" if t.roi_index is not None else ""))
        props: dict[str, Any] = {"name": f"task {t.task_id}"}
        if st is not None:
            props["actionStatus"] = ("CompletedActionStatus" if st.state.value == "done"
                                     else "FailedActionStatus")
            if st.started:
                props["startTime"] = _iso(st.started)
            if st.finished:
                props["endTime"] = _iso(st.finished)
        if rec is not None:
            result.append(_file(f"{PROVENANCE_DIR}/{t.task_id}.json",
                                name=f"provenance record of task {t.task_id}",
                                encodingFormat="application/json"))
            for inp in rec.inputs:
                if inp.role == "upstream" and inp.sha256 and (bd.root / inp.path).exists():
                    objects.append(_file(inp.path, sha256=inp.sha256))
            for name, value in sorted(rec.parameters.items()):
                objects.append(crate.add(ContextEntity(
                    crate, f"#param-{t.task_id}-{name}", properties={
                        "@type": "PropertyValue", "name": name,
                        "value": value if isinstance(value, (str, int, float, bool))
                        else json.dumps(value)})))
            env = read_environment(bd.root, rec.env) if rec.env else None
            if env is not None:
                instrument.append(_software("tramway-jupyter", env.tramway_jupyter))
                instrument.append(_software("Python", env.python))
                instrument += [_software(n, v) for n, v in sorted(env.packages.items())
                               if n != "tramway-jupyter"]
                props["location"] = env.host
                description += f"; backend {env.backend}, profile {env.profile}"
                if env.slurm_job_id:
                    description += f", Slurm job {env.slurm_job_id}"
                if env.container_image:
                    description += (f", container {env.container_image}"
                                    f" (sha256 {env.container_digest})")
                env_rel = f"{PROVENANCE_DIR}/env-{rec.env}.json"
                if (bd.root / env_rel).exists():
                    objects.append(_file(env_rel, name=f"environment {rec.env}",
                                         encodingFormat="application/json"))
        props["description"] = description
        crate.add_action(instrument, identifier=f"#task-{t.task_id}", object=objects,
                         result=result, properties=props)
    out.mkdir(parents=True, exist_ok=True)
    crate.write(out)
    return out
