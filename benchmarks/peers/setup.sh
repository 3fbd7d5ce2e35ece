#!/usr/bin/env bash
# Install the peer libraries (its_hub, optillm) from PyPI into their own venv, so their
# dependencies never touch ours. Idempotent: re-running only checks what is installed.
#   bash benchmarks/peers/setup.sh            # venv at benchmarks/peers/.venv (git-ignored)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${PEERS_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
# Pinned so results are comparable between runs; bump deliberately.
"$venv/bin/python" -m pip install --quiet "its_hub[lm]==1.2.0" "optillm==0.4.0" psutil
"$venv/bin/python" -c "import its_hub, optillm; print('peers ready:', '$venv')"
