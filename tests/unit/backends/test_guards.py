"""The run options of the guards reach the backends: --mem to sbatch, --oversubscribe."""

from __future__ import annotations

from tramway_jupyter.backends.profiles import Profile
from tramway_jupyter.backends.slurm import SlurmBackend
from tramway_jupyter.cli import build_parser
from tramway_jupyter.run_options import run_kwargs

from .fakes import FakeSlurm
from .test_slurm_backend import make_batch


def test_mem_and_oversubscribe_options_parse():
    args = build_parser().parse_args(["run", "nb.ipynb", "--data", "x", "--mem", "3G",
                                      "--workers", "64", "--oversubscribe"])
    kw = run_kwargs(args)
    assert kw["mem"] == "3G" and kw["oversubscribe"] is True and kw["workers"] == 64
    kw = run_kwargs(build_parser().parse_args(["run", "nb.ipynb", "--data", "x"]))
    assert kw["mem"] is None and kw["oversubscribe"] is None


def test_mem_option_becomes_sbatch_mem(tmp_path):
    args = build_parser().parse_args(["run", "nb.ipynb", "--data", "x", "--mem", "3G"])
    fake = FakeSlurm(tmp_path / "fake")
    prof = Profile(name="p", backend="slurm", scratch=str(tmp_path / "remote"),
                   python="/env/bin/python").replace(mem=run_kwargs(args)["mem"])
    ctx = make_batch(tmp_path, profile=prof)
    SlurmBackend(ctx.profile, fake.conn).submit(ctx, [j.job_index for j in ctx.plan.jobs])
    calls = fake.sbatch_calls()
    assert calls and all("--mem=3G" in c for c in calls)
