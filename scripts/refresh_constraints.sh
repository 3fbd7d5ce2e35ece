#!/usr/bin/env bash
# Refresh constraints.txt deliberately: install the newest releases the bounds in
# pyproject.toml allow into a fresh virtual environment, run the whole suite there, and
# write the versions only if it passes. Review the diff of constraints.txt, then commit it.
#
#   bash scripts/refresh_constraints.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --upgrade -e '.[dev]'
"$venv/bin/python" -m pytest "$@"
"$venv/bin/python" scripts/freeze_constraints.py --out constraints.txt
echo "constraints.txt refreshed from $venv; review 'git diff constraints.txt' and commit it"
