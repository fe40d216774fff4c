"""SSHConnection built from ~/.ssh/config (lazily: no network here) and the per-profile cache."""

from __future__ import annotations

from tramway_jupyter.backends import ssh
from tramway_jupyter.backends.profiles import Profile


def test_ssh_config_is_honoured(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(
        "Host maestro\n  HostName maestro.example.org\n  User jdoe\n  Port 2200\n"
        "  IdentityFile ~/.ssh/id_lab\n  ProxyJump jdoe@gateway.example.org:22\n"
    )
    conn = ssh.SSHConnection("maestro", ssh_config=cfg)  # lazy: does not connect
    assert (conn.hostname, conn.user, conn.port) == ("maestro.example.org", "jdoe", 2200)
    assert conn.identity_files[0].endswith("/.ssh/id_lab")
    assert conn.proxy_jump == "jdoe@gateway.example.org:22"
    assert conn.where == "jdoe@maestro.example.org:2200"
    # explicit profile values win over the config
    conn2 = ssh.SSHConnection("maestro", 2201, "other", ssh_config=cfg)
    assert (conn2.port, conn2.user) == (2201, "other")
    jump = ssh._jump_connection(conn.proxy_jump, cfg)
    assert (jump.hostname, jump.user, jump.port) == ("gateway.example.org", "jdoe", 22)
    assert jump.proxy_jump is None


def test_multi_hop_proxy_jump_chains_through_the_earlier_hops(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text("Host inner\n  HostName inner.example.org\n  User ops\n")
    jump = ssh._jump_connection("outer.example.org:2022,inner", cfg)
    assert (jump.hostname, jump.user, jump.port) == ("inner.example.org", "ops", 22)
    assert jump.proxy_jump == "outer.example.org:2022"


def test_get_connection_is_reused_per_profile():
    ssh.close_connections()
    a = Profile(name="a", backend="slurm", host="h.example.org", user="u")
    b = Profile(name="b", backend="slurm", host="h.example.org", user="u")
    try:
        assert ssh.get_connection(a) is ssh.get_connection(b)
        assert isinstance(ssh.get_connection(Profile(name="l", backend="slurm")), ssh.LocalConnection)
    finally:
        ssh.close_connections()
