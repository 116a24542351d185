# Cross-compiling for 32-bit ARM Linux boards (Raspberry Pi 2/3 with a 32-bit OS, Bela):
#   cmake -S . -B build/armhf -DCMAKE_TOOLCHAIN_FILE=cmake/arm-linux-gnueabihf.cmake
# Needs `apt-get install g++-arm-linux-gnueabihf`; tests run under qemu-arm. ARMv7-A with
# NEON (a Cortex-A7/A8/A53 in 32-bit mode) so that Eigen vectorises.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(NEURORAVE_CROSS_TRIPLE arm-linux-gnueabihf)
set(NEURORAVE_QEMU qemu-arm)
# -Wno-psabi: GCC notes an ABI change of GCC 7.1 on every std::vector<fpos> use.
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard -Wno-psabi")
set(CMAKE_C_FLAGS_INIT "${CMAKE_CXX_FLAGS_INIT}")
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
