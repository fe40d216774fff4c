"""SSH user authentication as OpenSSH does it: agent keys, key files (passphrase asked once),
then keyboard-interactive (passwords, one-time codes), the questions going to a :data:`.Prompter`.

Order: ``none`` (to learn the server's methods), the agent's keys (``SSH_AUTH_SOCK``; with
``IdentitiesOnly`` only those matching an identity file's ``.pub``), the identity files (else
``~/.ssh/id_ed25519``, ``id_ecdsa``, ``id_rsa``), then keyboard-interactive or password. A
server asking for a second factor after the key (partial success) gets the code from the prompter.

A passphrase-protected key is decrypted once per process and the key object kept in memory
(:data:`_DECRYPTED`); the passphrase itself is dropped at once. Nothing secret is logged.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import BackendUnavailableError, WrongSecretError
from .prompts import Prompter, default_prompter

logger = logging.getLogger(__name__)

DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")

#: real path of a passphrase-protected key file -> its decrypted paramiko key (this process only)
_DECRYPTED: dict[str, Any] = {}
_KEY_LOCK = threading.Lock()


@dataclass
class AuthPlan:
    """What to offer a server, and whom to ask for secrets."""

    where: str
    identity_files: list[str] = field(default_factory=list)
    identities_only: bool = False
    prompter: Prompter | None = None
    allow_agent: bool = True
    #: what was offered, for the error message (labels only, never secrets)
    tried: list[str] = field(default_factory=list)

    def ask(self, title: str, prompts: list[tuple[str, bool]]) -> list[str]:
        prompter = self.prompter or default_prompter()
        answers = prompter(title, prompts)
        if len(answers) != len(prompts):
            raise BackendUnavailableError(
                f"{title}: {len(prompts)} answer(s) expected, the prompt gave {len(answers)}")
        return answers


def forget_keys() -> None:
    """Drop every decrypted key of this process (``logout``; tests)."""
    with _KEY_LOCK:
        _DECRYPTED.clear()


def load_key_file(path: str, plan: AuthPlan) -> Any | None:
    """The paramiko key of ``path``; a passphrase is asked once per process (then the decrypted
    key is reused). None when the file is missing or unreadable (skipped, as ssh does)."""
    import paramiko

    real = os.path.realpath(os.path.expanduser(path))
    with _KEY_LOCK:  # held while asking: two threads needing the same key ask once
        if real in _DECRYPTED:
            return _DECRYPTED[real]
        try:
            return paramiko.PKey.from_path(real)
        except OSError as exc:
            logger.debug("key file %s skipped: %s", path, exc.strerror or exc)
            return None
        except (TypeError, paramiko.PasswordRequiredException):
            pass  # encrypted: ask below
        except (ValueError, paramiko.SSHException) as exc:
            logger.warning("key file %s skipped: not a private key paramiko can read (%s)", path, exc)
            return None
        (secret,) = plan.ask(f"SSH key {path} (for {plan.where})",
                             [(f"Enter passphrase for key '{path}': ", False)])
        try:
            key = paramiko.PKey.from_path(real, secret.encode())
        except (TypeError, ValueError, paramiko.SSHException):
            raise WrongSecretError(
                f"wrong passphrase for the SSH key {path} (connecting to {plan.where}); nothing"
                " was kept: try again") from None
        finally:
            del secret
        _DECRYPTED[real] = key
        logger.info("SSH key %s decrypted for this process", path)
        return key


def _agent_keys(plan: AuthPlan) -> tuple[Any, list[Any]]:
    if not plan.allow_agent or not os.environ.get("SSH_AUTH_SOCK"):
        return None, []
    import paramiko

    try:
        agent = paramiko.Agent()
        keys = list(agent.get_keys())
    except (OSError, paramiko.SSHException) as exc:
        logger.debug("ssh-agent not usable: %s", exc)
        return None, []
    if plan.identities_only and plan.identity_files:
        wanted = set()
        for f in plan.identity_files:
            try:
                with open(os.path.expanduser(f) + ".pub") as fh:
                    wanted.add(fh.read().split()[1])
            except (OSError, IndexError):
                continue
        if wanted:
            keys = [k for k in keys if k.get_base64() in wanted]
    return agent, keys


def _candidates(plan: AuthPlan) -> Iterator[tuple[str, Any]]:
    """(label, key) to offer, lazily: a key file is read (and its passphrase asked) only when
    the agent's keys did not do."""
    agent, keys = _agent_keys(plan)
    try:
        for k in keys:
            yield f"agent key {k.get_name()} {k.fingerprint}", k
    finally:
        if agent is not None:
            agent.close()
    files = list(plan.identity_files)
    if not plan.identities_only:
        files += [f for f in DEFAULT_KEYS if f not in files]
    for f in files:
        if not os.path.exists(os.path.expanduser(f)):
            continue
        key = load_key_file(f, plan)
        if key is not None:
            yield f"key file {f}", key


def authenticate(transport: Any, username: str, plan: AuthPlan) -> None:
    """Authenticate ``transport`` as ``username`` (raises :class:`BackendUnavailableError`)."""
    import paramiko

    try:
        transport.auth_none(username)
        return
    except paramiko.BadAuthenticationType as exc:
        allowed = list(exc.allowed_types)
    except paramiko.AuthenticationException:
        allowed = ["publickey", "keyboard-interactive", "password"]
    if "publickey" in allowed:
        for label, key in _candidates(plan):
            plan.tried.append(label)
            try:
                remaining = transport.auth_publickey(username, key)
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
                break
            except paramiko.AuthenticationException:
                continue
            if transport.is_authenticated():
                return
            allowed = list(remaining)  # partial success: a second factor is due
            logger.info("%s accepted %s; it asks for %s too", plan.where, label, ", ".join(allowed))
            break
    if "keyboard-interactive" in allowed:
        _interactive(transport, username, plan)
    elif "password" in allowed:
        (secret,) = plan.ask(plan.where, [(f"Password for {plan.where}: ", False)])
        try:
            transport.auth_password(username, secret)
        except paramiko.AuthenticationException:
            raise WrongSecretError(f"SSH password for {plan.where} refused: try again") from None
        finally:
            del secret
    if not transport.is_authenticated():
        raise BackendUnavailableError(
            f"SSH authentication to {plan.where} failed; offered: "
            f"{', '.join(plan.tried) or 'no key (no agent, no readable key file)'};"
            f" the server accepts: {', '.join(allowed) or 'nothing more'}")


def _interactive(transport: Any, username: str, plan: AuthPlan) -> None:
    import paramiko

    asked = [0]

    def handler(title: str, instructions: str, prompt_list: list[tuple[str, bool]]) -> list[str]:
        if not prompt_list:
            return []  # the server's closing round (OpenSSH/PAM sends one with no prompts)
        asked[0] += 1
        head = " ".join(s.strip() for s in (title, instructions) if s and s.strip())
        return plan.ask(plan.where + (f": {head}" if head else ""),
                        [(str(p), bool(echo)) for p, echo in prompt_list])

    plan.tried.append("keyboard-interactive")
    try:
        transport.auth_interactive(username, handler)
    except paramiko.AuthenticationException:
        if asked[0]:
            raise WrongSecretError(
                f"SSH authentication to {plan.where} failed: the code or password given was"
                " refused (a one-time code is valid for its 30-s window only): try again") from None
        raise BackendUnavailableError(
            f"SSH authentication to {plan.where} failed (keyboard-interactive refused without a"
            f" question); offered: {', '.join(plan.tried)}") from None


def make_client(plan: AuthPlan) -> Any:
    """A paramiko ``SSHClient`` whose user authentication is :func:`authenticate` with ``plan``
    (its transport set-up and host-key checks are paramiko's own)."""
    import paramiko

    class _Client(paramiko.SSHClient):  # type: ignore[misc]
        def _auth(self, username: str, *args: Any, **kwargs: Any) -> None:
            authenticate(self._transport, username, plan)

    return _Client()
