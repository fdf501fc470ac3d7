#!/usr/bin/env bash
# The test suite, with all of its own set-up: a virtualenv in .venv, the package with its test and
# distributed extras, lint, the native tests, then the container tests (podman engine, image build,
# SageMaker SDK local mode). Set OLL_SKIP_CONTAINER_TESTS=1 to skip the container part locally.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
echo "==> installing the package with its test and distributed extras"
python -m pip install --quiet -e '.[test,distributed]' 2>&1 | grep -v "^WARNING: Location" || true
python -c "import linear_learner, sagemaker, torch" >/dev/null 2>&1 || {
  echo "installation failed"; exit 1; }

echo "==> ruff"
ruff format --check container tests bench local_test
ruff check container tests bench local_test

echo "==> pytest"
export SAGEMAKER_SUPPRESS_V2_WARNING=1
python -m pytest -q -p no:cacheprovider tests --ignore=tests/container "$@"

if [ "${OLL_SKIP_CONTAINER_TESTS:-0}" != "1" ] && [ -f local_test/container_tests.sh ]; then
  echo "==> container tests"
  bash local_test/container_tests.sh
fi
