#!/usr/bin/env bash
# Builds the reference environment for the change-point comparison (docs/history.md): Apache Otava in a virtual
# environment of its own. Otava 0.8 pins numpy 2.2.0 and pulls cloud and chat clients, so it cannot join the
# project's environment (TensorFlow's numpy is 2.4). Usage: scripts/otava/build-venv.sh [VENV]  (default .otava)
set -euo pipefail
VENV="${1:-.otava}"
PYTHON="${PYTHON:-python3}"
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "apache-otava==0.8.0"
"$VENV/bin/python" -c "import otava.analysis; print('otava', __import__('importlib.metadata').metadata.version('apache-otava'))"
