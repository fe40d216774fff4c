"""Login prompts in Lab: GET /tramway/api/prompts, POST /tramway/api/prompts/<id> (jp_fetch).

A login thread calls the server's prompter (the board) as the connection holder's client does;
the REST answers reach it in memory, and the event loop never waits for them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from tramway_jupyter.backends import holder, prompts
from tramway_jupyter.server.prompts import PromptDismissed

from .test_handlers import error, get, post


def _ask_in_thread(board, result):
    def run():
        holder._CONTEXT.facts = {"profile": "twofa", "where": "hpcuser@127.0.0.1:2226"}
        try:
            result["answers"] = board("Login to hpcuser@127.0.0.1:2226",
                                      [("Verification code: ", False), ("Site: ", True)])
        except PromptDismissed as exc:
            result["dismissed"] = str(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


async def _pending(jp_fetch, n=1):
    for _ in range(200):
        data = await get(jp_fetch, "prompts")
        if len(data["prompts"]) >= n:
            return data["prompts"]
        await asyncio.sleep(0.01)
    raise AssertionError("no prompt appeared")


async def test_prompt_is_listed_and_answered(jp_fetch, jp_serverapp):
    board = jp_serverapp.web_app.settings["tramway_prompts"]
    assert prompts.default_prompter() is board  # the server's connections ask Lab
    assert (await get(jp_fetch, "prompts")) == {"prompts": []}
    result: dict = {}
    t = _ask_in_thread(board, result)
    (p,) = await _pending(jp_fetch)
    assert p["profile"] == "twofa" and p["where"] == "hpcuser@127.0.0.1:2226"
    assert p["prompts"] == [{"text": "Verification code: ", "echo": False},
                            {"text": "Site: ", "echo": True}]
    code, msg = await error(jp_fetch, "prompts", p["id"], method="POST",
                            body=json.dumps({"answers": ["123456"]}))
    assert code == 400 and "2 string" in msg
    reply = await post(jp_fetch, "prompts", p["id"], body={"answers": ["123456", "lab"]})
    assert reply == {"id": p["id"], "ok": True}
    await asyncio.get_running_loop().run_in_executor(None, t.join, 5)
    assert result == {"answers": ["123456", "lab"]}
    assert (await get(jp_fetch, "prompts")) == {"prompts": []}
    code, _ = await error(jp_fetch, "prompts", p["id"], method="POST",
                          body=json.dumps({"answers": ["1", "2"]}))
    assert code == 404


async def test_prompt_dismissed(jp_fetch, jp_serverapp):
    board = jp_serverapp.web_app.settings["tramway_prompts"]
    result: dict = {}
    t = _ask_in_thread(board, result)
    (p,) = await _pending(jp_fetch)
    assert (await post(jp_fetch, "prompts", p["id"], body={"cancel": True}))["ok"] is False
    await asyncio.get_running_loop().run_in_executor(None, t.join, 5)
    assert "dismissed" in result["dismissed"]


def test_a_dismissed_login_is_not_asked_again_in_the_background_for_a_while():
    from tramway_jupyter.server.prompts import PromptBoard, background_logins

    board = PromptBoard(timeout=0.05, quiet=60)
    code = [("Verification code: ", False)]
    holder._CONTEXT.facts = {"profile": "twofa", "where": "hpcuser@127.0.0.1:2226"}
    try:
        with background_logins():
            with pytest.raises(PromptDismissed, match="no answer in Lab"):
                board("code?", code)  # nobody answers
            t0 = time.monotonic()
            # the refresher's next login: refused at once, saying how to log in
            with pytest.raises(PromptDismissed, match=r"Run form's profile Check, or with"
                               r" `tramway-jupyter login twofa`"):
                board("code?", code)
            assert time.monotonic() - t0 < 0.04 and not board.list().prompts

        def answer() -> None:
            while not board.list().prompts:
                time.sleep(0.001)
            board.answer(board.list().prompts[0].id, {"answers": ["123456"]})

        threading.Thread(target=answer, daemon=True).start()
        board.timeout = 5
        assert board("code?", code) == ["123456"]  # a user's action still asks
        with background_logins():  # and once answered, the background asks again
            threading.Thread(target=answer, daemon=True).start()
            assert board("code?", code) == ["123456"]
    finally:
        holder._CONTEXT.facts = {}
