#!/usr/bin/env bash
# The test command (see README): on a fresh Debian 12 machine, as root, it installs everything the
# tests need, starts the real infrastructure and runs the whole suite:
#   1. Debian's chromium + fonts for the browser tests (scripts/setup-lab-tests.sh);
#   2. tramway-jupyter[test] in .venv, a real (non-editable) install that builds the JupyterLab
#      extension with jlpm from the committed yarn.lock, then checks both extensions are enabled;
#   3. the Slurm + munge + sshd testbed and the cluster-side Python (scripts/infra/start-infra.sh);
#   4. ruff, import layers (lint-imports), mypy, then pytest over tests/ (unit, end-to-end, REST, browser, Slurm-over-SSH
#      integration).
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k local -x`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
VENV=${TRAMWAY_TEST_VENV:-$REPO/.venv}
PY=${PYTHON:-python3}
t0=$(date +%s)
step() { printf '\n=== [%4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

step "system packages for the browser tests"
bash scripts/setup-lab-tests.sh

step "install tramway-jupyter[test] into $VENV (builds the labextension)"
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
"$VENV/bin/python" -m pip install -q "$REPO[test]"
labext=$("$VENV/bin/jupyter" labextension list 2>&1); echo "$labext"
grep -Eiq "tramway-jupyter.*enabled.*OK" <<<"$labext" || { echo "labextension not enabled" >&2; exit 1; }
serverext=$("$VENV/bin/jupyter" server extension list 2>&1); echo "$serverext"
grep -Eiq "tramway_jupyter.*enabled" <<<"$serverext" || { echo "server extension not enabled" >&2; exit 1; }

step "start the Slurm + sshd testbed"
bash scripts/infra/start-infra.sh "$REPO"
# shellcheck disable=SC1091
source "$REPO/.infra/infra.env"

step "ruff"
"$VENV/bin/ruff" check "$REPO"

step "import layers (import-linter: [tool.importlinter] in pyproject.toml)"
"$VENV/bin/lint-imports"

step "mypy"
"$VENV/bin/mypy" tramway_jupyter/jobs tramway_jupyter/backends tramway_jupyter/server \
    tramway_jupyter/orchestration tramway_jupyter/api.py

step "pytest"
export PATH="$VENV/bin:$PATH"
# `pytest` (not `python -m pytest`): the tests import the installed package, as users do.
"$VENV/bin/pytest" -ra --durations=25 "$@"
step "all tests passed"
