"""~/.ssh/config: how a profile's host, port, user, keys and proxies resolve (no network)."""

from __future__ import annotations

import logging
import os

import pytest

from tramway_jupyter.backends import ssh_config

CONFIG = (
    "Host maestro\n  HostName maestro.example.org\n  User jdoe\n  Port 2200\n"
    "  IdentityFile ~/.ssh/id_lab\n  IdentitiesOnly yes\n"
    "  UserKnownHostsFile ~/.ssh/kh_lab /etc/ssh/kh_site\n"
    "  ProxyJump jdoe@gateway.example.org:22\n"
    "Host direct\n  HostName 10.0.0.5\n  ProxyJump none\n"
    "  ProxyCommand nc -X connect -x proxy:3128 %h %p\n"
)


def test_profile_alias_resolves_through_the_config(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(CONFIG)
    hc = ssh_config.resolve_host("maestro", ssh_config=cfg)
    assert (hc.hostname, hc.port, hc.user) == ("maestro.example.org", 2200, "jdoe")
    assert hc.identity_files == [os.path.expanduser("~/.ssh/id_lab")] and hc.identities_only
    assert hc.known_hosts == [os.path.expanduser("~/.ssh/kh_lab"), "/etc/ssh/kh_site"]
    assert hc.proxy_jump == "jdoe@gateway.example.org:22" and hc.proxy_command is None


def test_profile_values_win_over_the_config(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(CONFIG)
    hc = ssh_config.resolve_host("maestro", 2201, "other", "~/k", str(tmp_path / "kh"),
                                 ssh_config=cfg)
    assert (hc.hostname, hc.port, hc.user) == ("maestro.example.org", 2201, "other")
    assert hc.identity_files == [os.path.expanduser("~/k")] and hc.identities_only
    assert hc.known_hosts == [str(tmp_path / "kh")]


def test_proxy_jump_none_and_proxy_command(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(CONFIG)
    hc = ssh_config.resolve_host("direct", ssh_config=cfg)
    assert hc.hostname == "10.0.0.5" and hc.port == 22 and hc.proxy_jump is None
    assert not hc.identities_only and hc.identity_files == []
    assert ssh_config.expand_proxy_command(hc.proxy_command, hc.hostname, hc.port, "u") == (
        "nc -X connect -x proxy:3128 10.0.0.5 22"
    )


def test_no_config_or_a_broken_one_leaves_the_name_as_is(tmp_path, caplog):
    hc = ssh_config.resolve_host("h.example.org", ssh_config=tmp_path / "missing")
    assert (hc.hostname, hc.port, hc.user) == ("h.example.org", 22, None)
    assert hc.known_hosts == [os.path.expanduser("~/.ssh/known_hosts")]
    broken = tmp_path / "broken"
    broken.write_text("Host h\n  HostName\n")
    with caplog.at_level(logging.WARNING):
        assert ssh_config.lookup_ssh_config("h", broken) == {"hostname": "h"}
    assert "cannot parse" in caplog.text and str(broken) in caplog.text


def test_parse_proxy_jump():
    hop = ssh_config.parse_proxy_jump("gw.example.org")
    assert hop == ssh_config.JumpHop("gw.example.org", None, None, None)
    # the last hop opens the channel to the target; it is reached through the earlier ones
    hop = ssh_config.parse_proxy_jump("a@first:2022, second ,u@third:2222")
    assert hop == ssh_config.JumpHop("third", 2222, "u", "a@first:2022,second")
    with pytest.raises(ValueError, match="empty ProxyJump"):
        ssh_config.parse_proxy_jump(" , ")
