#!/usr/bin/env bash
# Builds the Pd package: a `neurorave` folder in deken's layout (the external, its help
# patch, the default model, README, licence) and the .dek archive deken uploads.
#   bash scripts/pd_package.sh [OUT]      # default OUT: dist/pd
# Drop OUT/neurorave into a folder on Pd's search path, or upload the .dek with deken.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-dist/pd}")
BUILD=build/pd_package
# For any x86-64 (the GEMM kernels are chosen at run time), not only this machine.
cmake -S . -B "$BUILD" -G Ninja -DNEURORAVE_PD=ON -DNEURORAVE_PYTHON=OFF \
  -DNEURORAVE_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target neurorave_pd
rm -rf "$OUT/neurorave"
cmake --install "$BUILD" --component pd --prefix "$OUT" >/dev/null
mv "$OUT/lib/pd/extra/neurorave" "$OUT/neurorave"
rm -rf "$OUT/lib"
VERSION=$(sed -n 's/^project(neurorave VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
ARCH=$(uname -m | sed 's/x86_64/amd64/')
DEK="$OUT/neurorave[v$VERSION](Linux-$ARCH-32).dek"
rm -f "$DEK"
(cd "$OUT" && cmake -E tar cf "$DEK" --format=zip neurorave)
echo "$OUT/neurorave"
echo "$DEK"
