#!/usr/bin/env bash
# The project's main job, from a fresh checkout: installs dependencies,
# installs culturespa into .venv (pip install -e .), and runs it.
# For now that is `culturespa info`; arguments are passed to the command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
VENV=${CULTURESPA_VENV:-.venv}
export CCACHE_BASEDIR=$PWD
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation -e .
if [ $# -eq 0 ]; then set -- info; fi
exec "$VENV/bin/culturespa" "$@"
