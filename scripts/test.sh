#!/usr/bin/env bash
# Runs every test suite from a fresh checkout: installs dependencies, builds
# the library, its Python extension, the C++ tests and examples in build/,
# then runs ctest (C++ tests, the find_package install test) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
scripts/setup-deps.sh
VENV=${CULTURESPA_VENV:-.venv}
PY="$ROOT/$VENV/bin/python"
[ -x "$PY" ] || PY="$VENV/bin/python"
export CCACHE_BASEDIR="$ROOT"   # lets `pip install .` builds reuse this build's objects
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$PY"
cmake --build build -j "$JOBS"

status=0
ctest --test-dir build --output-on-failure -j 1 || status=$?
PYTHONPATH="$ROOT/python" "$PY" -m pytest tests -q -rs || status=$?
exit $status
