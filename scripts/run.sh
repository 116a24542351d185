#!/usr/bin/env bash
# All set-up and the two main jobs. Run as root on a fresh Debian 12 machine:
#   bash ./scripts/run.sh demo    # set up, then render the demo into demo/
#   bash ./scripts/run.sh test    # set up, then run the whole test suite (pytest + ctest)
# Every step is idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(build-essential cmake ninja-build pkg-config libeigen3-dev nlohmann-json3-dev
              doctest-dev fluidsynth fluid-soundfont-gm espeak-ng puredata-core puredata-dev
              g++-aarch64-linux-gnu qemu-user libasound2-dev libsndfile1-dev
              libasound2-dev:arm64 libsndfile1-dev:arm64 clang-14 libfuzzer-14-dev clang-format-14)
VENV=.venv
PY="$VENV/bin/python"

setup_system() {
  # The module program's ALSA and libsndfile for the aarch64 cross build: Debian multiarch.
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

setup_python() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV" 2>/dev/null || {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$VENV"
    }
  fi
  # torch is pinned to the CPU build; numpy is named explicitly.
  "$PY" -m pip install -q --disable-pip-version-check \
    "torch==2.13.0" numpy safetensors onnx onnxruntime tqdm soundfile soxr matplotlib \
    lightning tensorboard scipy pytest pytest-timeout ruff librosa scikit-build-core pybind11 ninja cmake
  echo "== building and installing neurorave (C++ core + Python package)"
  "$PY" -m pip install -q --disable-pip-version-check --no-build-isolation .
}

run_tests() {
  echo "== clang-format: the C++ sources as .clang-format lays them out"
  git ls-files '*.cpp' '*.hpp' | xargs clang-format-14 --dry-run -Werror
  echo "== ctest: C++ unit tests"
  cmake -S . -B build/ctest -G Ninja -DNEURORAVE_TESTS=ON -DNEURORAVE_PYTHON=OFF \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/ctest
  ctest --test-dir build/ctest --output-on-failure
  echo "== ctest under qemu-aarch64: the same C++ tests cross-compiled for 64-bit ARM"
  cmake -S . -B build/aarch64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
    -DNEURORAVE_TESTS=ON -DNEURORAVE_PYTHON=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/aarch64
  ctest --test-dir build/aarch64 --output-on-failure
  if [ "$(uname -m)" = x86_64 ]; then
    echo "== ctest, portable build (kernels chosen at run time): here, then on an emulated CPU without AVX"
    cmake -S . -B build/portable -G Ninja -DNEURORAVE_TESTS=ON -DNEURORAVE_TESTS_EIGEN_CHECKS=OFF \
      -DNEURORAVE_NATIVE=OFF -DNEURORAVE_PYTHON=OFF -DNEURORAVE_PD=OFF -DNEURORAVE_MODULE_APP=OFF \
      -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/portable --target neurorave_tests
    build/portable/cpp/tests/neurorave_tests
    qemu-x86_64 -cpu Nehalem build/portable/cpp/tests/neurorave_tests -ts="layers,loader,player*"
  fi
  echo "== fuzz: the model loader, libFuzzer + ASan/UBSan, 40000 inputs"
  bash scripts/fuzz_loader.sh 40000
  echo "== ruff"
  "$VENV/bin/ruff" check python tests
  echo "== pytest"
  "$VENV/bin/pytest" -q --durations=20 tests
}

case "${1:-}" in
  setup) setup_system; setup_python ;;
  demo) setup_system; setup_python; "$VENV/bin/neurorave" demo -o demo ;;
  test) setup_system; setup_python; run_tests ;;
  *) echo "usage: bash scripts/run.sh setup|demo|test" >&2; exit 2 ;;
esac
