#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/*/fuzz_*.cpp) with clang in build-fuzz/
# and runs each for FUZZ_SECONDS (default 30) on a corpus seeded from the
# test fixtures and ../shared (when present; read in place, never copied into
# the repository). A crash, leak-free hang (-timeout) or out-of-memory fails
# the script; the reproducer is kept in build-fuzz/crashes/<target>/ and its
# path printed. Replay one: build-fuzz/tests/culturespa_fuzz_X <reproducer>.
#
#   scripts/fuzz.sh                 # all targets, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh fuzz_gguf
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${FUZZ_SECONDS:-30}
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
SHARED=${CULTURESPA_SHARED_DIR:-$ROOT/../shared}
BUILD=$ROOT/build-fuzz

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (apt-get install clang)" >&2
  exit 1
fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCULTURESPA_BUILD_FUZZERS=ON -DCULTURESPA_BUILD_PYTHON=OFF -DCULTURESPA_BUILD_EXAMPLES=OFF \
  -DCULTURESPA_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target culturespa_fuzzers

# Seeds: fixture files of each reader's kind. Absent folders are skipped.
seeds_for() {
  local name=$1
  case $name in
    fuzz_tokenizer_json) find "$SHARED/fixtures/tokenizers" -name tokenizer.json -size -2M 2>/dev/null ;;
    fuzz_sentencepiece) find "$SHARED/fixtures/tokenizers" -name tokenizer.model 2>/dev/null ;;
    fuzz_chat_template) find "$SHARED/fixtures/tokenizers" -name tokenizer_config.json 2>/dev/null ;;
    fuzz_config) find "$SHARED/fixtures" -name config.json -size -64k 2>/dev/null ;;
    fuzz_gguf) find "$SHARED/fixtures" -name '*.gguf' -size -1M 2>/dev/null ;;
    fuzz_safetensors) find "$SHARED/fixtures" -name '*.safetensors' -size -1M 2>/dev/null ;;
    fuzz_survey_files) find "$SHARED/wvs" -name '*.json' -size -2M 2>/dev/null ;;
    fuzz_stage_files) find "$SHARED/reference-runs" -name '*.json' -size -512k 2>/dev/null | head -20 ;;
    fuzz_answer_parser) ;;
  esac
  # Small hand-written seeds committed beside the targets.
  find "$ROOT/tests/fuzz-seeds/$name" -type f 2>/dev/null || true
}

status=0
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/*/fuzz_*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
[ -d "$SHARED" ] || echo "fuzz: $SHARED is absent: fuzzing from the committed seeds only"
for name in "${targets[@]}"; do
  exe=$BUILD/tests/culturespa_$name
  corpus=$BUILD/corpus/$name
  crashes=$BUILD/crashes/$name
  mkdir -p "$corpus" "$crashes"
  seeds=()
  while IFS= read -r seed; do [ -n "$seed" ] && seeds+=("$seed"); done < <(seeds_for "$name")
  # The generated corpus grows in build-fuzz/; seeds are read where they are.
  seed_dir=$BUILD/seeds/$name
  rm -rf "$seed_dir" && mkdir -p "$seed_dir"
  for seed in "${seeds[@]}"; do ln -sf "$seed" "$seed_dir/$(echo "$seed" | md5sum | cut -c1-12)"; done
  max_len=65536
  case $name in fuzz_tokenizer_json|fuzz_sentencepiece) max_len=2097152 ;; esac
  log=$BUILD/$name.log
  start=$(date +%s)
  # -rss_limit_mb: a reader must not allocate gigabytes for a small input.
  if ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
     "$exe" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 -max_len=$max_len \
       -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" "$seed_dir" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $name: ok, $runs runs in $(( $(date +%s) - start )) s (${#seeds[@]} seeds)"
  else
    status=1
    echo "fuzz: $name: FAILED; reproducer(s): $(ls "$crashes" | sed "s|^|$crashes/|" | tr '\n' ' ')" >&2
    grep -m 30 -E 'ERROR|SUMMARY|#[0-9]+ 0x|==[0-9]+==' "$log" >&2 || tail -30 "$log" >&2
  fi
done
exit $status
