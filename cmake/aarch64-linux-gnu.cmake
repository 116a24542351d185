# Cross-compiling for 64-bit ARM Linux boards (Raspberry Pi 4/5, Jetson Nano):
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# Needs `apt-get install g++-aarch64-linux-gnu`; with `qemu-user` installed, ctest runs the
# test programs under qemu-aarch64. NEON is part of AArch64: Eigen vectorises with it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(NEURORAVE_CROSS_TRIPLE aarch64-linux-gnu)
set(NEURORAVE_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
