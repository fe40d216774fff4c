"""Named backend settings: a TOML file of profiles, or a Python subclass (TRamWAy's ``Maestro`` way).

``~/.config/tramway-jupyter/profiles.toml`` (or ``$TRAMWAY_JUPYTER_PROFILES``)::

    [profiles.maestro]
    backend = "slurm"
    host = "maestro"              # a name or a ~/.ssh/config alias
    scratch = "/pasteur/sonic/scratch/users/{user}"
    partition = "dedicated"
    walltime = "01:00:00"
    container = "tramway-jupyter.sif"
    mail_type = "END,FAIL"        # optional Slurm mail (sbatch --mail-type, --mail-user)
    mail_user = "me@example.org"

The profile ``local`` always exists (local backend, one worker per core).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from ..exceptions import ProfileError
from ..jobs.outputs import DEFAULT_MAX_OUTPUT_BYTES, parse_size
from ..jobs.plan_model import KEEP_NOTEBOOKS
from ..paths import default_profiles_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: The values of sbatch ``--mail-type`` (a comma list of them).
MAIL_TYPES = ("NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
              "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS")
_MAIL_USER = re.compile(r"[A-Za-z0-9._%+-]+(@[A-Za-z0-9.-]+)?")


def check_mail_type(profile: str, value: object) -> str | None:
    """``mail_type`` as sbatch takes it ("END,FAIL"): a comma list of :data:`MAIL_TYPES`, in
    any case, or None."""
    if value is None or value == "":
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    types = [str(t).strip().upper() for t in items]
    bad = [t for t in types if t not in MAIL_TYPES]
    if bad or not types:
        raise ProfileError(f"profile {profile!r}: mail_type {value!r}: unknown Slurm mail type(s)"
                           f" {bad}; use a comma list of {', '.join(MAIL_TYPES)}")
    return ",".join(dict.fromkeys(types))


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(workers: int | None = None) -> int:
    """The number of worker processes: ``workers`` if set, else one per CPU (:func:`cpu_count`)."""
    return int(workers) if workers else cpu_count()


@dataclass
class Profile:
    """Settings of one backend target. Subclass it with class attributes to define a profile in code."""

    name: str = "local"
    backend: str = "local"  # "inline", "local" or "slurm"
    # local
    workers: int | None = None  # local worker processes (default: default_workers())
    oversubscribe: bool = False  # allow more local workers than CPUs (else capped, with a warning)
    warm_pool: bool = True  # fork local workers from the per-user warm pool (backends/pool.py)
    pool_idle_timeout: float | None = None  # s before an idle warm pool exits (default 600)
    # ssh
    host: str = ""  # empty or "localhost" with no port: commands run on this machine
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    jump: str | None = None  # ProxyJump hops, "user@bastion:port[,user@host2]" (else ~/.ssh/config's)
    # the per-user connection holder (backends/holder.py): True always, False never, None (the
    # default) from the first login that asks a passphrase or a code (or after `login`)
    holder: bool | None = None
    holder_idle: float | None = None  # s before an idle holder exits (default 8 h)
    # slurm
    scratch: str = "~/tramway-jupyter"  # may contain {user}
    partition: str | None = None
    account: str | None = None
    walltime: str | None = None
    cpus_per_task: int | None = None
    mem: str | None = None  # per-task memory: sbatch --mem; locally an RLIMIT_AS per worker
    max_array_size: int = 1000
    max_running: int | None = None
    max_requeue: int = 1  # resubmissions of a task whose job was PREEMPTED or hit NODE_FAIL
    sbatch_options: list[str] = field(default_factory=list)
    mail_type: str | None = None  # Slurm mail: sbatch --mail-type, e.g. "END,FAIL"
    mail_user: str | None = None  # sbatch --mail-user (Slurm's default: the submitting user)
    remote_dependencies: str | None = None
    python: str = "python3"
    poll_interval_max: float = 30.0  # s: the longest wait between two polls of a cluster
    # containers
    container: str | None = None
    container_runtime: str = "apptainer"
    container_options: list[str] = field(default_factory=list)
    # named images for `container`: name -> path on the cluster or URL (downloaded once)
    container_images: dict[str, str] = field(default_factory=dict)
    path_map: dict[str, str] = field(default_factory=dict)
    # execution
    tasks_per_job: int | None = None
    isolate: bool = False
    engine: str = "shell"  # "shell" (IPython in the worker, fastest) or "kernel" (a warm ipykernel)
    stage_data: bool = False
    # output notebooks kept: "auto" (every task's up to KEEP_ALL_NOTEBOOKS_UP_TO tasks, then
    # only failed tasks'), "all" or "failed"
    keep_notebooks: str = "auto"
    # stdout/stderr text kept per task in its output notebook: bytes or "200k", "1M"; 0 = no limit
    max_output: int | str = DEFAULT_MAX_OUTPUT_BYTES

    # A subclass may set fields as plain class attributes (e.g. ``hostname = "maestro"``).
    _aliases: ClassVar[dict[str, str]] = {"hostname": "host", "username": "user"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Turn class attributes of a plain subclass into field defaults (TRamWAy Maestro style).
        overrides: dict[str, Any] = {}
        for k, v in list(vars(cls).items()):
            key = Profile._aliases.get(k, k)
            if key in Profile.__dataclass_fields__ and not k.startswith("__"):
                overrides[key] = v
        if "name" not in overrides:
            overrides["name"] = cls.__name__.lower()
        cls._class_defaults = overrides  # type: ignore[attr-defined]

    def __post_init__(self) -> None:
        for k, v in getattr(type(self), "_class_defaults", {}).items():
            if getattr(self, k) == Profile.__dataclass_fields__[k].default or (
                isinstance(getattr(self, k), (list, dict)) and not getattr(self, k)
            ):
                object.__setattr__(self, k, v if not isinstance(v, (list, dict)) else type(v)(v))
        self.validate()

    def validate(self) -> None:
        if self.workers is not None and int(self.workers) < 1:
            raise ProfileError(f"profile {self.name!r}: workers must be >= 1, got {self.workers}")
        if self.max_array_size < 1:
            raise ProfileError(f"profile {self.name!r}: max_array_size must be >= 1")
        if int(self.max_requeue) < 0:
            raise ProfileError(f"profile {self.name!r}: max_requeue must be >= 0")
        if self.engine not in ("shell", "kernel"):
            raise ProfileError(
                f"profile {self.name!r}: engine must be 'shell' or 'kernel', got {self.engine!r}")
        if self.keep_notebooks not in KEEP_NOTEBOOKS:
            raise ProfileError(f"profile {self.name!r}: keep_notebooks must be one of "
                               f"{', '.join(KEEP_NOTEBOOKS)}, got {self.keep_notebooks!r}")
        try:
            self.max_output = parse_size(self.max_output)
        except ValueError as exc:
            raise ProfileError(f"profile {self.name!r}: max_output: {exc}") from None
        self.mail_type = check_mail_type(self.name, self.mail_type)
        if self.mail_user is not None and not _MAIL_USER.fullmatch(str(self.mail_user)):
            raise ProfileError(f"profile {self.name!r}: mail_user must be an e-mail address or"
                               f" a user name, got {self.mail_user!r}")
        if self.mail_user and not self.mail_type:
            raise ProfileError(f"profile {self.name!r}: mail_user is set but not mail_type, so "
                               'Slurm would send no mail: add mail_type = "END,FAIL" (or ALL)')
        if self.holder not in (None, True, False):
            raise ProfileError(f"profile {self.name!r}: holder must be true or false (or left"
                               f" out: the holder from the first login that asks), got"
                               f" {self.holder!r}")
        if self.container_runtime not in ("apptainer", "singularity"):
            raise ProfileError(
                f"profile {self.name!r}: container_runtime must be 'apptainer' or 'singularity',"
                f" got {self.container_runtime!r}"
            )

    @property
    def is_remote(self) -> bool:
        return bool(self.host) and not (self.host in ("localhost", "127.0.0.1") and not self.port)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_record(self) -> dict[str, Any]:
        """The resolved profile as a batch keeps it: its values, and its class when that is a
        subclass (``module:QualName``), so that a re-attach gets the same class back."""
        d = self.to_dict()
        cls = type(self)
        if cls is not Profile:
            d["class"] = f"{cls.__module__}:{cls.__qualname__}"
        return d

    @staticmethod
    def from_record(record: dict[str, Any]) -> Profile:
        """The profile that :meth:`to_record` saved. Its subclass when it can be imported here
        (a class defined in a notebook cannot, in another process: then a plain ``Profile``
        with the same values, which is all a backend reads)."""
        d = dict(record)
        spec = d.pop("class", None)
        name = str(d.pop("name", "local"))
        cls = _import_profile_class(spec) if spec else Profile
        known = {f.name for f in fields(Profile)}
        return cls(**{k: v for k, v in d.items() if k in known}, name=name)

    def replace(self, **changes: Any) -> Profile:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any], *, origin: str = "") -> Profile:
        known = {f.name for f in fields(Profile)}
        d = {Profile._aliases.get(k, k): v for k, v in d.items()}
        unknown = set(d) - known
        if unknown:
            where = f" in {origin}" if origin else ""
            raise ProfileError(
                f"profile {name!r}{where}: unknown keys {sorted(unknown)}; known keys: {sorted(known)}"
            )
        try:
            return Profile(**{**d, "name": name})
        except TypeError as exc:
            raise ProfileError(f"profile {name!r}: {exc}") from exc


def _import_profile_class(spec: str) -> type[Profile]:
    module, _, qualname = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return Profile
    return obj if isinstance(obj, type) and issubclass(obj, Profile) else Profile


def load_profiles(path: str | os.PathLike[str] | None = None) -> dict[str, Profile]:
    """All profiles: the built-in ``local`` and ``inline``, then those of the TOML file."""
    profiles: dict[str, Profile] = {
        "local": Profile(name="local", backend="local"),
        "inline": Profile(name="inline", backend="inline"),
    }
    p = Path(path) if path is not None else default_profiles_path()
    if not p.exists():
        return profiles
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read profiles file {p}: {exc}") from exc
    table = data.get("profiles", {})
    if not isinstance(table, dict):
        raise ProfileError(f"{p}: [profiles] must be a table of named profiles")
    for name, d in table.items():
        if not isinstance(d, dict):
            raise ProfileError(f"{p}: profiles.{name} must be a table")
        profiles[name] = Profile.from_dict(name, d, origin=str(p))
    return profiles


def get_profile(
    profile: str | Profile | type[Profile] | None, path: str | os.PathLike[str] | None = None
) -> Profile:
    """Resolve a profile given by name, instance or subclass."""
    if profile is None:
        profile = "local"
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, type) and issubclass(profile, Profile):
        return profile()
    profiles = load_profiles(path)
    try:
        return profiles[profile]
    except KeyError:
        where = Path(path) if path is not None else default_profiles_path()
        raise ProfileError(
            f"no profile named {profile!r}; known: {', '.join(sorted(profiles))} (profiles file: {where})"
        ) from None
