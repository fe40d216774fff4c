#!/usr/bin/env bash
# The main job (see README): install tramway-jupyter into .venv, then run the demo pipeline on a
# simulated data set (2 files x 4 ROIs), locally: tessellate per file, infer per ROI, gather,
# print the table and plot the maps into demo-output/ (or the directory given as argument).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${TRAMWAY_VENV:-$PWD/.venv}
[[ -x $VENV/bin/python ]] || "${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
"$VENV/bin/python" -m pip install -q ".[lab]"
exec "$VENV/bin/tramway-jupyter" demo --out "${1:-demo-output}"
