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
# Pinned so results are comparable between runs; bump deliberately. PEERS=its_hub skips
# optillm (it pulls CUDA torch, a 6.6 GB venv).
peers="${PEERS:-its_hub optillm}"
packages="psutil"
case " $peers " in *" its_hub "*) packages="$packages its_hub[lm]==1.2.0" ;; esac
case " $peers " in *" optillm "*) packages="$packages optillm==0.4.0" ;; esac
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install --quiet $packages
for peer in $peers; do "$venv/bin/python" -c "import $peer"; done
echo "peers ready ($peers): $venv"
