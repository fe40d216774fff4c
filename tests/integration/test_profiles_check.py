"""``tramway-jupyter profiles --check`` against the real cluster."""

from __future__ import annotations

import json

import pytest

from tramway_jupyter.backends.cli import add_subcommands

pytestmark = [pytest.mark.ssh, pytest.mark.slurm]


def _main(argv):
    import argparse

    p = argparse.ArgumentParser()
    add_subcommands(p.add_subparsers(dest="cmd"))
    args = p.parse_args(argv)
    return args.func(args)


def test_profiles_check_says_what_is_wrong(infra, tmp_path, capsys):
    f = tmp_path / "profiles.toml"
    common = (f'backend = "slurm"\nhost = "127.0.0.1"\nport = {infra["INFRA_SSH_PORT"]}\n'
              f'user = "{infra["INFRA_SSH_USER"]}"\nidentity_file = "{infra["INFRA_SSH_KEY"]}"\n'
              f'known_hosts = "{infra["INFRA_SSH_KNOWN_HOSTS"]}"\n')
    f.write_text(
        f'[profiles.good]\n{common}scratch = "~/scratch/check"\npartition = "debug"\n'
        f'python = "{infra["INFRA_REMOTE_PYTHON"]}"\n'
        f'[profiles.bad]\n{common}scratch = "/root/nope"\npython = "/usr/bin/python3"\n'
    )
    assert _main(["profiles", "good", "--check", "--file", str(f)]) == 0
    out = capsys.readouterr().out
    assert "[ok  ] python" in out and "tramway-jupyter 0.1" in out
    assert _main(["profiles", "bad", "--check", "--file", str(f), "--json"]) == 1
    res = json.loads(capsys.readouterr().out)["bad"]
    failed = {c["name"] for c in res["checks"] if not c["ok"]}
    assert failed == {"scratch", "python"}
