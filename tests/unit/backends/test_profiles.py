"""Profiles for the Slurm backend: TOML keys, Maestro-style subclasses, errors."""

from __future__ import annotations

import pytest

from tramway_jupyter.backends.profiles import Profile, get_profile, load_profiles
from tramway_jupyter.exceptions import ProfileError

TOML = """
[profiles.maestro]
backend = "slurm"
host = "maestro"
user = "jdoe"
scratch = "/pasteur/sonic/scratch/users/{user}"
partition = "dedicated"
account = "hub"
walltime = "01:00:00"
cpus_per_task = 2
mem = "4G"
max_array_size = 500
max_running = 50
sbatch_options = ["--qos=fast"]
remote_dependencies = "module load apptainer"
python = "python3"
container = "tramway-jupyter"
container_runtime = "singularity"
container_options = ["-B /pasteur"]
container_images = { tramway-jupyter = "https://example.org/tramway-jupyter-0.1.0.sif" }
path_map = { "/Volumes/lab" = "/pasteur/lab" }
stage_data = false
mail_type = "end,FAIL"
mail_user = "jane.doe@pasteur.fr"
"""


def test_toml_profile_with_every_slurm_key(tmp_path):
    p = tmp_path / "profiles.toml"
    p.write_text(TOML)
    prof = load_profiles(p)["maestro"]
    assert prof.backend == "slurm" and prof.is_remote
    assert prof.container_images["tramway-jupyter"].endswith(".sif")
    assert prof.path_map == {"/Volumes/lab": "/pasteur/lab"}
    assert prof.max_running == 50 and prof.sbatch_options == ["--qos=fast"]
    assert prof.mail_type == "END,FAIL" and prof.mail_user == "jane.doe@pasteur.fr"


def test_env_var_overrides_profiles_path(tmp_path, monkeypatch):
    p = tmp_path / "p.toml"
    p.write_text(TOML)
    monkeypatch.setenv("TRAMWAY_JUPYTER_PROFILES", str(p))
    assert get_profile("maestro").host == "maestro"


def test_maestro_subclass():
    class Maestro(Profile):
        backend = "slurm"
        hostname = "maestro.pasteur.fr"
        scratch = "/pasteur/sonic/scratch/users/{user}"
        container_options = ["-B /pasteur"]
        remote_dependencies = "module load singularity"
        container_runtime = "singularity"

    prof = get_profile(Maestro)
    assert prof.name == "maestro" and prof.host == "maestro.pasteur.fr"
    assert prof.container_options == ["-B /pasteur"]
    assert prof.remote_dependencies == "module load singularity"


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('[profiles.x]\nbackend = "slurm"\nhots = "a"\n')
    with pytest.raises(ProfileError, match="hots"):
        load_profiles(p)


def test_bad_runtime():
    with pytest.raises(ProfileError, match="container_runtime"):
        Profile(name="x", backend="slurm", container_runtime="docker")


@pytest.mark.parametrize("host,port,remote", [("", None, False), ("localhost", None, False),
                                              ("localhost", 2222, True), ("cluster", None, True)])
def test_is_remote(host, port, remote):
    assert Profile(name="x", backend="slurm", host=host, port=port).is_remote is remote


def test_check_output_parsing_and_verdicts():
    from tramway_jupyter.backends import profile_check as pc

    text = ("@@ sbatch 0\n/usr/bin/sbatch\nslurm-wlm 22.05.8\n@@ partitions 0\ndebug* up\n"
            "@@ scratch 1\nmkdir: cannot create directory '/x': Permission denied\n"
            "@@ python 0\n0.1.3 3.11.2\n")
    res = pc.parse_check_output(text)
    assert res["scratch"][0] == 1 and res["python"] == (0, "0.1.3 3.11.2")
    prof = Profile(name="x", backend="slurm", host="h", partition="gpu", scratch="/x")
    checks = {c.name: c for c in pc._interpret(prof, res, "/x", None)}
    assert checks["sbatch"].ok
    assert not checks["partition"].ok and "debug" in checks["partition"].detail
    assert not checks["scratch"].ok and "Permission denied" in checks["scratch"].detail
    assert checks["python"].ok == pc.compatible(pc.local_version(), "0.1.3")


def test_check_script_quotes_and_wraps_the_container():
    from tramway_jupyter.backends import profile_check as pc

    prof = Profile(name="x", backend="slurm", host="h", container="img.sif",
                   remote_dependencies="module load apptainer", python="python3")
    script = pc.check_script(prof, "/scratch/a b", "/home/u/img.sif")
    assert "'/scratch/a b'" in script
    assert "module load apptainer && apptainer exec --bind '/scratch/a b' /home/u/img.sif python3 -c" in script


def test_one_default_worker_count():
    """Every place that needs a worker count takes it from profiles.default_workers."""
    import os
    from pathlib import Path

    import tramway_jupyter
    from tramway_jupyter.backends.local import LocalBackend
    from tramway_jupyter.backends.profiles import cpu_count, default_workers

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_workers() == default_workers(None) == default_workers(0) == cpu_count() == cpus
    assert default_workers(3) == 3
    assert LocalBackend(Profile()).workers == cpus and LocalBackend(Profile(workers=2)).workers == 2
    root = Path(tramway_jupyter.__file__).parent
    others = [str(p.relative_to(root)) for p in root.rglob("*.py") if p.name != "profiles.py"
              and ("os.cpu_count(" in p.read_text() or "sched_getaffinity" in p.read_text())]
    assert others == [], f"a worker-count fallback outside profiles.default_workers: {others}"


class Lab(Profile):
    """A profile subclass at module level (importable), with behaviour of its own."""

    workers = 3
    engine = "kernel"

    def describe(self) -> str:
        return f"lab profile, {self.workers} workers"


def test_record_round_trip_keeps_the_subclass():
    prof = get_profile(Lab).replace(workers=2)
    record = prof.to_record()
    assert record["class"].endswith(":Lab")
    back = Profile.from_record(record)
    assert type(back) is Lab and back.describe() == "lab profile, 2 workers"
    assert back.engine == "kernel" and back.name == "lab"


def test_record_of_a_class_gone_is_a_plain_profile_with_the_same_values():
    record = {**Lab().to_record(), "class": "no_such_module_xyz:Lab"}
    back = Profile.from_record(record)
    assert type(back) is Profile and back.workers == 3 and back.engine == "kernel"



@pytest.mark.parametrize("mail_type, expected", [
    ("END,FAIL", "END,FAIL"), (" end , fail ,END", "END,FAIL"), (["ALL"], "ALL"),
    ("TIME_LIMIT_80,ARRAY_TASKS,INVALID_DEPEND", "TIME_LIMIT_80,ARRAY_TASKS,INVALID_DEPEND"),
    ("", None), (None, None),
])
def test_slurm_mail_type_is_checked_and_normalised(mail_type, expected):
    assert Profile(backend="slurm", mail_type=mail_type).mail_type == expected


@pytest.mark.parametrize("changes, message", [
    ({"mail_type": "END,FINISH"}, r"unknown Slurm mail type\(s\) \['FINISH'\]; use a comma list"),
    ({"mail_type": "END,,FAIL"}, r"unknown Slurm mail type\(s\) \[''\]"),
    ({"mail_type": "END", "mail_user": "me; rm -rf ~"}, "mail_user must be an e-mail address"),
    ({"mail_user": "me@example.org"}, 'mail_user is set but not mail_type.*"END,FAIL"'),
])
def test_bad_slurm_mail_settings_are_named(changes, message):
    with pytest.raises(ProfileError, match=message):
        Profile(name="m", backend="slurm", **changes)
