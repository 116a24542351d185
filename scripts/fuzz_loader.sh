#!/usr/bin/env bash
# Fuzzes the model loader: libFuzzer + ASan/UBSan (clang-14), its corpus seeded with real
# exports of the tiny model (random weights; with and without a prior; causal or not).
#   bash scripts/fuzz_loader.sh [RUNS]     # default 40000 inputs; the test command runs it
# A failure leaves the input that broke the contract as build/fuzz/crash-* (or leak-*,
# timeout-*); replay it with build/fuzz/cpp/fuzz/neurorave_fuzz_loader FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-40000}
BUILD=build/fuzz
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DNEURORAVE_FUZZ=ON \
  -DNEURORAVE_PYTHON=OFF -DNEURORAVE_PD=OFF -DNEURORAVE_MODULE_APP=OFF \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target neurorave_fuzz_loader
SEEDS="$BUILD/seeds"
if [ ! -d "$SEEDS" ]; then
  mkdir -p "$SEEDS.tmp"
  for variant in "" "--causal" "--prior --prior-hidden 16" "--causal --prior --prior-hidden 16"; do
    name=$(echo "tiny $variant" | tr -d ' -' | sed 's/priorhidden16/prior/')
    # shellcheck disable=SC2086
    .venv/bin/neurorave export --random --config tiny $variant --seed 3 \
      -o "$SEEDS.tmp/$name.nrv" >/dev/null
  done
  mv "$SEEDS.tmp" "$SEEDS"
fi
CORPUS="$BUILD/corpus"
rm -rf "$CORPUS" && mkdir -p "$CORPUS"
largest=$(stat -c %s "$SEEDS"/*.nrv | sort -n | tail -1)
cd "$BUILD"
status=0
./cpp/fuzz/neurorave_fuzz_loader -seed=1 -runs="$RUNS" -max_len=$((largest * 2)) \
  -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 corpus seeds >fuzz.log 2>&1 || status=$?
grep -E "^#[0-9]+ +(INITED|DONE)|^stat::number_of_executed_units|^stat::peak_rss" fuzz.log || true
if [ "$status" -ne 0 ]; then
  echo "fuzz: the loader broke its contract (exit $status); the end of $BUILD/fuzz.log:" >&2
  tail -n 40 fuzz.log >&2
  exit 1
fi
