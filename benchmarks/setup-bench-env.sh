#!/usr/bin/env bash
# Creates the benchmarks' own Python environment (.bench-venv, gitignored) with
# llama-cpp-python, the llama.cpp peer that model_bench.py and
# generator_bench.py measure side by side with culturespa. It is never a
# dependency of culturespa itself.
#
# The environment sees Debian's torch and the culturespa build through
# --system-site-packages plus the shared test requirements; llama-cpp-python's
# source distribution builds its vendored llama.cpp for this CPU (GGML_NATIVE),
# which takes 10-30 minutes on 2 cores.
#
#   bash benchmarks/setup-bench-env.sh            # creates ./.bench-venv
#   BENCH_VENV=/tmp/bv bash benchmarks/setup-bench-env.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BENCH_VENV:-$root/.bench-venv}"
llama_cpp_python_version="0.3.36"

if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/python" -m pip install --quiet -r "$root/requirements-test.txt"
"$venv/bin/python" -m pip install --quiet --no-deps -r "$root/requirements-test-nodeps.txt"
# llama-cpp-python's own runtime requirements, without letting pip replace numpy.
"$venv/bin/python" -m pip install --quiet "typing-extensions>=4.5" "diskcache>=5.6.1" "jinja2>=2.11.3"
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DLLAMA_CURL=OFF}" \
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
  "$venv/bin/python" -m pip install --no-deps --verbose "llama-cpp-python==$llama_cpp_python_version"
"$venv/bin/python" -c "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__, 'ready in $venv')"
