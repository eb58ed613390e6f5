#!/usr/bin/env bash
# Builds culturespa on a GPU machine against its own pip LibTorch 2.x with
# CUDA, then runs the model tests on CUDA in float32 and bfloat16 and the
# model benchmark on the GPU.
#
#   scripts/gpu_check.sh --prepare  # here (Debian): gathers build/gpu-deps to carry
#   scripts/gpu_check.sh            # there, from the repository root
#
# Expects: python3 with torch (CUDA), pybind11, cmake, ninja. No network, no
# apt. Optional environment:
#   CULTURESPA_GPU_DEPS   folder holding include/nlohmann/json.hpp (when the
#                         machine lacks nlohmann-json) and python/ (pure-Python
#                         packages such as pytest, when the machine lacks them)
#   PYTHON                the interpreter (default python3)
#   BENCH_ARGS            extra arguments for benchmarks/model_bench.py (default --quick)
# Tolerances (tests/model/test_model.py): float32 logits within 1e-3 of the
# float32 CPU references (cuBLAS may use other reductions, TF32 is off by
# default for matmul in torch 2.x), bfloat16 within 0.15 and the first greedy
# tokens equal.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
DEPS=${CULTURESPA_GPU_DEPS:-$ROOT/build/gpu-deps}
BUILD=$ROOT/build-gpu
status=0

if [ "${1:-}" = --prepare ]; then
  # Header-only and pure-Python dependencies the GPU machine may lack.
  mkdir -p "$DEPS/include" "$DEPS/python"
  cp -r /usr/include/nlohmann "$DEPS/include/"
  # The text layer's C libraries, headers and shared objects (no .pc files:
  # cmake/Dependencies.cmake then searches CMAKE_PREFIX_PATH).
  cp /usr/include/pcre2.h /usr/include/utf8proc.h "$DEPS/include/"
  mkdir -p "$DEPS/lib"
  cp -P /usr/lib/x86_64-linux-gnu/libpcre2-8.so* /usr/lib/x86_64-linux-gnu/libutf8proc.so* "$DEPS/lib/"
  for p in pytest _pytest pluggy iniconfig packaging attr attrs exceptiongroup tomli py.py; do
    [ -e "/usr/lib/python3/dist-packages/$p" ] && cp -r "/usr/lib/python3/dist-packages/$p" "$DEPS/python/"
  done
  du -sh "$DEPS"
  exit 0
fi

"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())' || exit 1
TORCH_PREFIX=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
PYBIND_DIR=$("$PY" -m pybind11 --cmakedir 2>/dev/null || true)
PREFIX="$TORCH_PREFIX"
[ -n "$PYBIND_DIR" ] && PREFIX="$PREFIX;$PYBIND_DIR"

# nlohmann_json: the system's, else a config package made here around a
# carried header folder.
if [ -f "$DEPS/include/nlohmann/json.hpp" ] && [ ! -f /usr/include/nlohmann/json.hpp ]; then
  mkdir -p "$BUILD/nlohmann-config"
  cat > "$BUILD/nlohmann-config/nlohmann_jsonConfig.cmake" <<CMAKE
add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "$DEPS/include")
set(nlohmann_json_FOUND TRUE)
CMAKE
  echo 'set(PACKAGE_VERSION 3.11.2)
set(PACKAGE_VERSION_COMPATIBLE TRUE)' > "$BUILD/nlohmann-config/nlohmann_jsonConfigVersion.cmake"
  PREFIX="$PREFIX;$BUILD/nlohmann-config"
fi
# Copied C libraries (pcre2, utf8proc) when the machine lacks them.
if [ -d "$DEPS/lib" ]; then
  PREFIX="$PREFIX;$DEPS"
  export LD_LIBRARY_PATH="$DEPS/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The C++ tests need Catch2; without it only the library and extension are built.
TESTS=ON
# Catch2 v2 (catch.hpp); a machine with only v3 runs the Python tests alone.
[ -f /usr/include/catch2/catch.hpp ] || [ -f /usr/local/include/catch2/catch.hpp ] || TESTS=OFF
# Carried pure-Python packages (pytest) only where the machine has none: an
# older carried pytest breaks the plugins of a newer installed one.
if [ -d "$DEPS/python" ] && ! "$PY" -c 'import pytest' 2>/dev/null; then
  export PYTHONPATH="$DEPS/python${PYTHONPATH:+:$PYTHONPATH}"
fi


cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DPython_EXECUTABLE="$(command -v "$PY")" \
  -DCULTURESPA_SENTENCEPIECE=off -DCULTURESPA_USE_CCACHE=OFF \
  -DCULTURESPA_BUILD_TESTS=$TESTS -DCULTURESPA_BUILD_EXAMPLES=OFF || exit 1
cmake --build "$BUILD" -j "$(nproc)" || exit 1
if [ "$TESTS" = ON ]; then
  ctest --test-dir "$BUILD" --output-on-failure -R '^model' || status=1
fi

export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import culturespa; print(culturespa.runtime_info())' || exit 1
for dtype in float32 bfloat16; do
  echo "== model tests on cuda, $dtype"
  CULTURESPA_TEST_DEVICE=cuda CULTURESPA_TEST_DTYPE=$dtype "$PY" -m pytest tests/model -q -rs || status=1
done
echo "== benchmark on cuda"
for dtype in float32 bfloat16; do
  "$PY" benchmarks/model_bench.py --device cuda --dtype $dtype ${BENCH_ARGS:---quick} || status=1
done
exit $status
