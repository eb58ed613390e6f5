#!/usr/bin/env bash
# Builds the C++ library and every C++ test program with AddressSanitizer and
# UndefinedBehaviorSanitizer in build-asan/ and runs them (ctest). Any
# report fails the run (UBSan does not recover). Part of CI (.ci/run).
#
# The build is lean: the library, the Catch2 test programs and the layering
# checks only (no Python extension: it would need an instrumented Python; no
# examples), at -O1 with line tables (ASan's recommended setting: fast to
# compile, exact stack traces), through ccache.
#
# Debian's LibTorch is not instrumented, so some checks are turned off, each
# for a reason that lies outside culturespa's code:
#   detect_leaks=0           LibTorch, OpenMP and glog keep global allocations
#                            for the process lifetime; LeakSanitizer reports
#                            them at exit.
#   alloc_dealloc_mismatch=0 LibTorch's uninstrumented code frees with the
#                            plain operator delete memory its headers (inlined
#                            into instrumented code) allocated, and the reverse.
#   detect_container_overflow=0  std::vector annotations are only kept
#                            consistent when every user is instrumented; an
#                            uninstrumented LibTorch resizing a vector shared
#                            with culturespa gives false reports.
#   -fno-sanitize=vptr       UBSan's dynamic-type check needs RTTI of
#                            LibTorch's classes from a build that did not
#                            export it the same way.
# Everything else (heap/stack/global overflows, use-after-free, double free,
# signed overflow, misaligned or null access, bad shifts, out-of-range enums
# and bools) stays on.
#
#   scripts/sanitize.sh                  # build + every test
#   scripts/sanitize.sh -R 'survey: '    # extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
BUILD=$ROOT/build-asan
start=$(date +%s)
scripts/setup-deps.sh   # gcc's ASan/UBSan runtimes come with build-essential; a no-op when present
export CCACHE_BASEDIR="$ROOT"   # objects cached under another checkout's path are reused
# The sentencepiece source package build/ already fetched (scripts/test.sh) is
# reused instead of downloading it again.
spm=()
if [ -f "$ROOT/build/_deps/sentencepiece-download/sentencepiece_0.1.97.orig.tar.gz" ] && [ ! -f "$BUILD/CMakeCache.txt" ]; then
  spm=(-DCULTURESPA_SENTENCEPIECE_DEBIAN_DIR="$ROOT/build/_deps/sentencepiece-download")
fi

# Set before the build too: catch_discover_tests runs each test program to list its tests.
export ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:detect_container_overflow=0:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The tests' scratch folders (temp_directory_path) are this build's own, so a
# test.sh run beside this one does not share them.
export TMPDIR=$BUILD/tmp
mkdir -p "$TMPDIR"
# CULTURESPA_SANITIZE instruments culturespa's code and tests only (CMakeLists.txt).
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCULTURESPA_SANITIZE=ON -DCULTURESPA_BUILD_PYTHON=OFF -DCULTURESPA_BUILD_EXAMPLES=OFF "${spm[@]}" >/dev/null
# `all` here is the library, every test program (the internal ones too) and
# the survey link check: exactly what ctest runs.
cmake --build "$BUILD" -j "$JOBS"
built=$(date +%s)

# The install test builds examples against an installed copy: not a sanitizer matter.
status=0
ctest --test-dir "$BUILD" --output-on-failure -j 1 -E '^install_' "$@" || status=$?
end=$(date +%s)
echo "sanitize: $([ $status = 0 ] && echo ok || echo FAILED) in $((end - start)) s" \
     "(build $((built - start)) s, ctest $((end - built)) s)"
exit $status
