"""Orchestration: submit, re-attach, poll, retry, requeue and resume batches.

It sits above ``jobs`` (plan, store, batch directory, worker: no backend) and ``backends`` (how
to launch the one worker), and below the surfaces (magics, CLI, widgets, server), which reach it
through :mod:`tramway_jupyter.api`.
"""
