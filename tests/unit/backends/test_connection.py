"""The Connection interface on this machine: quoting, checks, tar streams, remote paths."""

from __future__ import annotations

import time

import pytest

from tramway_jupyter.backends import connection


def test_quote_command_list_and_line():
    assert connection.quote_command(["echo", "a b", "$(id)"]) == "echo 'a b' '$(id)'"
    assert connection.quote_command("echo $HOME") == "echo $HOME"


def test_local_run_never_interprets_arguments(tmp_path):
    conn = connection.LocalConnection()
    marker = tmp_path / "pwned"
    rc, out, _ = conn.run(["echo", f"$(touch {marker})", "it's; `true`"])
    assert rc == 0 and out == f"$(touch {marker}) it's; `true`\n"
    assert not marker.exists()
    assert conn.round_trips == 1


def test_check_names_the_host_on_failure():
    with pytest.raises(Exception, match="localhost"):
        connection.LocalConnection().check(["false"])


def test_put_and_get_tar_round_trip_incremental(tmp_path):
    src, remote, back = tmp_path / "src", tmp_path / "remote dir $x", tmp_path / "back"
    (src / "status").mkdir(parents=True)
    (src / "status" / "a b'c.json").write_text('{"state": "done"}')
    (src / "plan.json").write_text("{}")
    conn = connection.LocalConnection()
    n = conn.put_tar(src, str(remote))
    assert n > 0 and (remote / "status" / "a b'c.json").exists()
    stamp, files = conn.get_tar(str(remote), back, ["status", "missing"])
    assert files == ["status/a b'c.json"] and stamp > 0
    assert conn.round_trips == 2
    # nothing changed since: nothing comes back (but files changed meanwhile do)
    _, again = conn.get_tar(str(remote), back, ["status"], since=stamp + 5)
    assert again == []
    time.sleep(0.05)
    (remote / "status" / "new.json").write_text("{}")
    _, newer = conn.get_tar(str(remote), back, ["status"], since=stamp)
    assert "status/new.json" in newer


def test_get_tar_of_missing_directory_is_empty(tmp_path):
    stamp, files = connection.LocalConnection().get_tar(str(tmp_path / "nope"), tmp_path / "o", ["status"])
    assert files == [] and stamp == 0.0


def test_expand_path_uses_remote_home_and_user():
    conn = connection.LocalConnection()
    conn._home, conn._user = "/home/u", "u"
    assert conn.expand_path("~/scratch") == "/home/u/scratch"
    assert conn.expand_path("/scratch/{user}/tj") == "/scratch/u/tj"
    assert conn.expand_path("/abs") == "/abs"
