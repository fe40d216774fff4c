"""Lab's login dialog, against the second-factor sshd of the test infrastructure: the server
needs a cluster (the Run form's profile Check) whose key has a passphrase and whose sshd asks a
one-time code; each question comes up in a dialog with a masked input, the answers go to the
connection holder's login, and the next Check asks nothing. No secret lands in a file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import _infra_env, _missing
from integration.test_holder import _files_with, totp
from playwright.sync_api import expect

from tramway_jupyter.backends import holder

from .labpage import LabPage, write_notebook

pytestmark = [pytest.mark.ssh]


@pytest.fixture
def infra2fa() -> dict[str, str]:
    env, reason = _infra_env()
    if env is None:
        _missing(reason)
    assert env is not None
    if "INFRA_2FA_PORT" not in env or "INFRA_SSH_KEY_ENCRYPTED" not in env:
        _missing("the second-factor sshd or the passphrase key is not in infra.env: run"
                 " scripts/infra/start-infra.sh")
    return env


@pytest.fixture
def twofa_profile(lab: dict[str, Any], infra2fa: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A profile ``twofa`` in the Lab's profiles file; this process sees the Lab's holder."""
    path = Path(lab["env"]["TRAMWAY_JUPYTER_PROFILES"])
    fields = {
        "backend": "slurm", "host": infra2fa["INFRA_SSH_HOST"],
        "port": int(infra2fa["INFRA_2FA_PORT"]), "user": infra2fa["INFRA_SSH_USER"],
        "identity_file": infra2fa["INFRA_SSH_KEY_ENCRYPTED"],
        "known_hosts": infra2fa["INFRA_2FA_KNOWN_HOSTS"],
        "scratch": f"{infra2fa['INFRA_REMOTE_SCRATCH']}/ui-login",
        "python": infra2fa["INFRA_REMOTE_PYTHON"], "partition": infra2fa["INFRA_SLURM_PARTITION"],
        "holder": True,
    }
    lines = ["[profiles.twofa]"] + [
        f"{k} = {str(v).lower() if isinstance(v, bool) else v if isinstance(v, int) else repr(v)}"
        for k, v in fields.items()]
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("TRAMWAY_JUPYTER_HOME", lab["env"]["TRAMWAY_JUPYTER_HOME"])
    try:
        yield {k: str(v) for k, v in fields.items()}
    finally:
        holder.stop()
        path.unlink()


def _answer(page: Any, question: re.Pattern[str], answer: str, where: str) -> None:
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible(timeout=60_000)
    expect(dialog).to_contain_text(f"Log in to {where}")
    expect(dialog.locator("label")).to_have_text(question)
    field = dialog.locator("input")
    expect(field).to_have_attribute("type", "password")  # masked
    field.fill(answer)
    dialog.get_by_role("button", name="Log in").click()
    expect(dialog).to_have_count(0)


def test_login_dialog_asks_once_then_the_login_is_held(page, lab, twofa_profile, infra2fa,
                                                        artifacts):
    lp = LabPage(page, lab)
    write_notebook(lab["root"] / "login.ipynb", ["%%tramway stage s --per file\nprint(source)"])
    lp.goto("lab/tree/login.ipynb")
    sidebar = lp.open_sidebar()
    sidebar.locator(".jp-TramwayNewBatch").click()
    form = sidebar.locator(".jp-TramwayRunForm")
    profile = form.locator('.jp-TramwayField[data-field="profile"]')
    profile.locator("select").select_option("twofa")
    profile.locator(".jp-mod-check").click()

    where = f"{infra2fa['INFRA_SSH_USER']}@127.0.0.1:{infra2fa['INFRA_2FA_PORT']}"
    passphrase = infra2fa["INFRA_SSH_KEY_PASSPHRASE"]
    _answer(page, re.compile("passphrase", re.I), passphrase, where)
    page.locator(".jp-Dialog").wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts / "login-dialog.png"))
    code = totp(infra2fa["INFRA_2FA_TOTP_SECRET"])
    _answer(page, re.compile("code", re.I), code, where)

    check = profile.locator(".jp-TramwayCheck")
    expect(check).to_contain_text(f"connect: {where}", timeout=120_000)
    expect(check).to_contain_text("round trip")
    held = [h for h in (holder.status() or {}).get("held", []) if h["where"] == where]
    assert held and held[0]["active"] and held[0]["logins"] == 1 and held[0]["prompts"] == 2, held

    # the login is held: a second check asks nothing
    profile.locator(".jp-mod-check").click()
    expect(profile.locator(".jp-mod-check")).to_have_text("Check", timeout=60_000)
    expect(check).to_contain_text(f"connect: {where}")
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    held = [h for h in (holder.status() or {}).get("held", []) if h["where"] == where]
    assert held[0]["logins"] == 1 and held[0]["prompts"] == 2, held

    # no secret in any file the server wrote (its log, store, batches, the holder's log)
    assert not _files_with(Path(lab["env"]["TRAMWAY_JUPYTER_STORE"]).parent, [passphrase, code])
