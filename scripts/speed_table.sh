#!/usr/bin/env bash
# The speed table of issue 19: the core built three ways (this machine's -march=native,
# the portable wheel's baseline flags, the VCV plugin's Rack flags), each playing `small`
# (causal) and `v1` with random weights, fp32 and fp16, at blocks 256 and 2048, one thread.
# Ratios are comparable only within one run on an otherwise idle machine.
#
#   bash scripts/speed_table.sh [SECONDS]     (after `bash scripts/run.sh setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-6}"
PY="$PWD/.venv/bin/python"
OUT=build/speed
PYBIND="$("$PY" -m pybind11 --cmakedir)"
mkdir -p "$OUT/models"
for build in native portable rack; do
  case $build in
    native) flags=(-DNEURORAVE_NATIVE=ON) ;;
    portable) flags=(-DNEURORAVE_NATIVE=OFF) ;;
    # Rack's compile.mk: -march=nehalem -O3; the plugin's Makefile compiles the core with
    # -fno-unsafe-math-optimizations on top, the AVX2 / AVX-512 kernels with their flags.
    rack) flags=(-DNEURORAVE_NATIVE=OFF "-DCMAKE_CXX_FLAGS=-march=nehalem -fno-omit-frame-pointer") ;;
  esac
  cmake -S . -B "$OUT/$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEURORAVE_PYTHON=ON \
    -DNEURORAVE_TESTS=OFF -DNEURORAVE_PD=OFF -DNEURORAVE_MODULE_APP=OFF \
    -DPYBIND11_FINDPYTHON=ON -DPython_EXECUTABLE="$PY" -Dpybind11_DIR="$PYBIND" "${flags[@]}" \
    >/dev/null
  cmake --build "$OUT/$build" --target _core >/dev/null
  rm -rf "$OUT/$build/site" && mkdir -p "$OUT/$build/site"
  cp -r python/neurorave "$OUT/$build/site/"
  rm -f "$OUT/$build/site/neurorave/"_core*.so
  cp "$OUT/$build/"_core*.so "$OUT/$build/site/neurorave/"
done
for config in small v1; do
  [ -f "$OUT/models/$config.nrv" ] ||
    "$PY" -m neurorave.cli export --random --config "$config" --causal -o "$OUT/models/$config.nrv" >/dev/null
done
# Each cell is the best of ROUNDS runs, the builds taking turns, so that a burst of load
# on a shared machine does not land on one build only.
ROUNDS="${2:-3}"
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
  for config in small v1; do
    for build in native portable rack; do
      PYTHONPATH="$OUT/$build/site" "$PY" -m neurorave.cli bench "$OUT/models/$config.nrv" \
        --core-only --seconds "$SECONDS_PER_RUN" --blocks 256 2048 |
        awk -v build="$build" -v config="$config" -F'|' '
          /^ *[0-9]+ \|/ { gsub(/ /, ""); print build, config, $1, $2, $4, $6 }' >>"$results"
    done
  done
done
echo "| build | model | block | xRT fp32 | xRT fp16 | fp16 / fp32 | % of FMA peak (fp32) | fp32 / native |"
echo "|---|---|---|---|---|---|---|---|"
# best of the rounds per cell; the peak column is the run's own, scaled to the best fp32
sort -k1,1 -k2,2 -k3,3n "$results" | awk '
  { key = $1 " " $2 " " $3; if ($4 > fp32[key]) { fp32[key] = $4; peak[key] = $6 / 1 };
    if ($5 > fp16[key]) fp16[key] = $5; order[key] = NR }
  END {
    split("small v1", configs, " "); split("native portable rack", builds, " ");
    split("256 2048", blocks, " ");
    for (c = 1; c <= 2; c++) for (b = 1; b <= 3; b++) for (k = 1; k <= 2; k++) {
      key = builds[b] " " configs[c] " " blocks[k]; native = "native " configs[c] " " blocks[k];
      printf "| %s | %s | %s | %.1f | %.1f | %.2f | %s | %.2f |\n", builds[b], configs[c],
             blocks[k], fp32[key], fp16[key], fp16[key] / fp32[key], peak[key],
             fp32[key] / fp32[native] } }'
rm -f "$results"
