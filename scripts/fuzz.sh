#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/*/fuzz_*.cpp) with clang in build-fuzz/
# and runs each for FUZZ_SECONDS (default 30; CI, .ci/run: 45), with libFuzzer
# seed FUZZ_SEED (default 1), on a corpus
# seeded from the committed seeds (tests/fuzz-seeds/<target>/, always there)
# and ../shared or $CULTURESPA_SHARED_DIR when present (read in place, never
# copied into the repository; absent in a bare clone, which is fine). A crash,
# a slow input (-timeout) or an out-of-memory fails the script; the
# reproducer is kept in build-fuzz/crashes/<target>/, its path printed and,
# when small, its bytes printed as base64 (a CI log outlives the machine).
# Replay one: build-fuzz/tests/culturespa_X <reproducer>.
#
#   scripts/fuzz.sh                 # all targets, 30 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh fuzz_gguf
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${FUZZ_SECONDS:-30}
# A fixed seed: a run explores the same inputs wherever it runs (as far as
# its time allows), so a CI failure replays here; FUZZ_SEED=0 picks a new one.
SEED=${FUZZ_SEED:-1}
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
SHARED=${CULTURESPA_SHARED_DIR:-$ROOT/../shared}
BUILD=$ROOT/build-fuzz
begin=$(date +%s)
scripts/setup-deps.sh   # clang and libFuzzer with its ASan/UBSan runtimes (libclang-rt-14-dev); a no-op when present
export CCACHE_BASEDIR="$ROOT"   # objects cached under another checkout's path are reused
spm=()   # reuse the sentencepiece source package build/ fetched (see scripts/sanitize.sh)
if [ -f "$ROOT/build/_deps/sentencepiece-download/sentencepiece_0.1.97.orig.tar.gz" ] && [ ! -f "$BUILD/CMakeCache.txt" ]; then
  spm=(-DCULTURESPA_SENTENCEPIECE_DEBIAN_DIR="$ROOT/build/_deps/sentencepiece-download")
fi

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (apt-get install clang)" >&2
  exit 1
fi
# -O1 with line tables: libFuzzer's recommended setting (fast to compile,
# symbolised stack traces in every report).
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DCULTURESPA_BUILD_FUZZERS=ON -DCULTURESPA_BUILD_PYTHON=OFF -DCULTURESPA_BUILD_EXAMPLES=OFF "${spm[@]}" >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target culturespa_fuzzers
built=$(date +%s)

# Seeds: fixture files of each reader's kind. Absent folders are skipped.
seeds_for() {
  local name=$1
  # `|| true`: under set -e a find of an absent ../shared would end this
  # function before the committed seeds (a clean clone fuzzed from nothing).
  { case $name in
    fuzz_tokenizer_json) find "$SHARED/fixtures/tokenizers" -name tokenizer.json -size -2M 2>/dev/null ;;
    fuzz_sentencepiece) find "$SHARED/fixtures/tokenizers" -name tokenizer.model 2>/dev/null ;;
    fuzz_chat_template) find "$SHARED/fixtures/tokenizers" -name tokenizer_config.json 2>/dev/null ;;
    fuzz_config) find "$SHARED/fixtures" -name config.json -size -64k 2>/dev/null ;;
    fuzz_gguf) find "$SHARED/fixtures" -name '*.gguf' -size -1M 2>/dev/null ;;
    fuzz_safetensors) find "$SHARED/fixtures" -name '*.safetensors' -size -1M 2>/dev/null ;;
    fuzz_survey_files) find "$SHARED/wvs" -name '*.json' -size -2M 2>/dev/null ;;
    fuzz_stage_files) find "$SHARED/reference-runs" -name '*.json' -size -512k 2>/dev/null | head -20 ;;
    fuzz_answer_parser) ;;
  esac; } || true
  # Small hand-written seeds committed beside the targets.
  find "$ROOT/tests/fuzz-seeds/$name" -type f 2>/dev/null || true
}

# A dictionary of the names the readers look for (JSON keys, GGUF metadata
# keys, chat-format markers), taken from the sources so it stays current, plus
# JSON's own tokens: mutations then reach the code behind each field.
dict=$BUILD/readers.dict
{
  for token in '{' '}' '[' ']' ':' ',' '"' 'true' 'false' 'null' '-1' '0' '1e308' '4294967297' '\\u0000' '\xFF'; do
    printf '"%s"\n' "$(printf '%s' "$token" | sed 's/"/\\"/g')"
  done
  grep -ohE '"[A-Za-z_<|][A-Za-z0-9_.|>-]{1,48}"' lib/core/*.cpp lib/text/*.cpp lib/survey/*.cpp lib/model/config.cpp \
      lib/model/gguf.cpp lib/model/safetensors.cpp lib/pipeline/stage_files.cpp lib/pipeline/contrast.cpp |
    sort -u | while IFS= read -r quoted; do
      printf '%s\n' "$quoted"                        # the bare name (GGUF keys, template markers)
      printf '"\\%s\\""\n' "${quoted%\"}"             # the name as a JSON key: "\"name\""
    done
} >"$dict"

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
  stamp=$BUILD/$name.started
  touch "$stamp"
  start=$(date +%s)
  # -rss_limit_mb: a reader must not allocate gigabytes for a small input.
  if ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
     "$exe" -seed="$SEED" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 -max_len=$max_len -dict="$dict" \
       -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" "$seed_dir" >"$log" 2>&1; then
    runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $name: ok, $runs runs in $(( $(date +%s) - start )) s (${#seeds[@]} seeds)"
  else
    status=1
    # Only this run's artifacts (the folder keeps earlier runs' reproducers).
    found=$(find "$crashes" -type f -newer "$stamp" | tr '\n' ' ')
    echo "fuzz: $name: FAILED after $(( $(date +%s) - start )) s; reproducer(s): ${found:-none written (see $log)}" >&2
    echo "fuzz: replay with $exe <reproducer>" >&2
    grep -m 30 -E 'ERROR|SUMMARY|#[0-9]+ 0x|==[0-9]+==|uncaught|terminate' "$log" >&2 || tail -30 "$log" >&2
    # The CI log is all that outlives a CI machine: small reproducers are
    # printed in full (base64 -d turns the block back into the file).
    for file in $found; do
      if [ "$(stat -c %s "$file")" -le 16384 ]; then
        echo "fuzz: reproducer $(basename "$file") as base64:" >&2
        base64 "$file" >&2
      fi
    done
  fi
done
end=$(date +%s)
echo "fuzz: $([ $status = 0 ] && echo ok || echo FAILED): ${#targets[@]} target(s), ${SECONDS_EACH} s each," \
     "$((end - begin)) s in all (build $((built - begin)) s, runs $((end - built)) s)"
exit $status
