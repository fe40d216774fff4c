"""Prompts for secrets: on a real terminal (a pty), refused without one, in a real Jupyter kernel
(its stdin channel), refused from a kernel's background thread instead of blocking."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tramway_jupyter.backends import prompts


def _answer_on(master: int, script: list[tuple[bytes, bytes]], seen: bytearray) -> None:
    """Play the user at the terminal: wait for each prompt, then type its answer."""
    for expect, answer in script:
        deadline = time.monotonic() + 10
        while expect not in seen and time.monotonic() < deadline:
            seen += os.read(master, 1024)
        time.sleep(0.05)  # let the prompter switch echo off (TCSAFLUSH drops earlier input)
        os.write(master, answer)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # drain what is echoed after the last answer
        import select

        if select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 1024)
            except OSError:
                break
        else:
            break


def test_cli_prompter_masks_secrets_on_the_terminal():
    master, slave = pty.openpty()
    try:
        seen = bytearray()
        user = threading.Thread(target=_answer_on, args=(master, [
            (b"Passphrase: ", b"s3cret-words\n"), (b"Login: ", b"alice\n")], seen))
        user.start()
        answers = prompts.cli_prompter(os.ttyname(slave))(
            "SSH key ~/.ssh/id_lab", [("Passphrase: ", False), ("Login: ", True)])
        user.join(15)
    finally:
        os.close(slave)
        os.close(master)
    assert answers == ["s3cret-words", "alice"]
    text = seen.decode(errors="replace")
    assert "SSH key ~/.ssh/id_lab" in text and "Passphrase: " in text
    assert "s3cret-words" not in text  # not echoed
    assert "alice" in text  # echoed: it is not a secret


def test_cli_prompter_without_a_terminal_refuses_clearly(tmp_path):
    with pytest.raises(prompts.PromptUnavailableError) as exc:
        prompts.cli_prompter(str(tmp_path / "no-tty"))("jdoe@maestro:22", [("Code: ", False)])
    msg = str(exc.value)
    assert "jdoe@maestro:22: needs a passphrase/code" in msg
    assert "run in a terminal, or `tramway-jupyter login PROFILE`" in msg
    # a process with no controlling terminal at all (a service, cron): /dev/tty cannot open
    code = ("from tramway_jupyter.backends import prompts\n"
            "try:\n    prompts.default_prompter()('t', [('p', False)])\n"
            "except prompts.PromptUnavailableError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         start_new_session=True, stdin=subprocess.DEVNULL).stdout
    assert out.startswith("refused: t: needs a passphrase/code (no terminal"), out


def test_kernel_prompter_outside_a_kernel_and_no_prompter_refuse():
    assert not prompts.in_kernel()
    with pytest.raises(prompts.PromptUnavailableError, match="not in a Jupyter kernel"):
        prompts.kernel_prompter()("t", [("p", False)])
    with pytest.raises(prompts.PromptUnavailableError, match="nobody to ask in the server"):
        prompts.no_prompter("in the server")("t", [("p", False)])
    errors = []

    def refresher():  # a server's background thread never blocks on a terminal
        try:
            prompts.default_prompter()("t", [("p", False)])
        except prompts.PromptUnavailableError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=refresher)
    t.start()
    t.join(10)
    assert errors == ["t: needs a passphrase/code (nobody to ask from a background thread): run in"
                      " a terminal, or `tramway-jupyter login PROFILE`"]


KERNEL_CODE = textwrap.dedent("""\
    import threading
    from tramway_jupyter.backends import prompts
    ask = prompts.default_prompter()
    print("in kernel:", prompts.in_kernel())
    print("answers:", ask("jdoe@maestro:22", [("Verification code: ", False), ("Login: ", True)]))
    errors = []
    def updater():
        try:
            ask("jdoe@maestro:22", [("Verification code: ", False)])
        except prompts.PromptUnavailableError as exc:
            errors.append(str(exc))
    t = threading.Thread(target=updater); t.start(); t.join(10)
    print("thread:", errors)
""")


def test_kernel_prompter_asks_through_the_kernels_stdin_and_refuses_from_a_thread():
    jupyter_client = pytest.importorskip("jupyter_client")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        kc.execute(KERNEL_CODE, allow_stdin=True)
        requests = []
        for answer in ("123456", "jdoe"):
            msg = kc.get_stdin_msg(timeout=60)
            requests.append((msg["content"]["prompt"], msg["content"]["password"]))
            kc.input(answer)
        out = []
        while True:
            msg = kc.get_iopub_msg(timeout=60)
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            if msg["msg_type"] == "error":
                pytest.fail("\n".join(msg["content"]["traceback"]))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        text = "".join(out)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert requests == [("jdoe@maestro:22: Verification code: ", True),
                        ("jdoe@maestro:22: Login: ", False)]
    assert "in kernel: True" in text
    assert "answers: ['123456', 'jdoe']" in text
    assert "background thread" in text and "tramway-jupyter login PROFILE" in text
