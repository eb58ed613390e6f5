#!/usr/bin/env bash
# Installs what culturespa needs on Debian 12 (apt, as root or through sudo)
# and makes the Python virtual environment .venv on Debian's python3 (with
# --system-site-packages so Debian's torch is seen), then the pinned Python
# test references from PyPI (requirements-test.txt). Safe to run again: it
# only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libtorch-dev python3-torch
  libgloo-dev  # gloo's headers for c10d's ProcessGroupGloo (process groups, docs/distributed.md)
  pybind11-dev python3-pybind11 python3-dev python3-venv python3-pip
  python3-setuptools python3-wheel python3-numpy python3-pytest
  python3-tqdm python3-pandas python3-matplotlib python3-jinja2
  libeigen3-dev nlohmann-json3-dev catch2
  libtoml11-dev  # the pipeline's TOML configs (header-only)
  libprotobuf-dev protobuf-compiler
  libpcre2-dev libutf8proc-dev
  sentencepiece python3-sentencepiece
  libopenblas0-openmp
  clang libclang-rt-14-dev  # libFuzzer targets and their ASan/UBSan runtimes (scripts/fuzz.sh)
  chromium  # headless: the test that opens a run's report.html (tests/pipeline/test_report.py)
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch calls whatever libblas.so.3 points to: make it OpenBLAS's OpenMP
# build, which shares LibTorch's OpenMP threads (see docs/getting-started.md).
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [ -e "$openblas" ] && [ "$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null)" != "$openblas" ]; then
  as_root update-alternatives --quiet --set libblas.so.3-x86_64-linux-gnu "$openblas" || true
fi

VENV=${CULTURESPA_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.requirements-test.sha256"
wanted=$(sha256sum requirements-test.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  # The PyPI test references are optional: tests that need them skip with a
  # message when PyPI cannot be reached.
  if "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.txt \
     && "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements-test-nodeps.txt; then
    echo "$wanted" > "$stamp"
  else
    echo "setup: WARNING: could not install requirements-test.txt from PyPI; tests that need them will skip" >&2
  fi
fi
