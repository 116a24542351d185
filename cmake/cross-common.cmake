# Shared by the ARM toolchain files: compilers, sysroot and the emulator ctest runs.
set(CMAKE_C_COMPILER ${NEURORAVE_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${NEURORAVE_CROSS_TRIPLE}-g++)
set(CMAKE_FIND_ROOT_PATH /usr/${NEURORAVE_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
# Eigen, nlohmann-json and doctest are header-only: the host's copies in /usr serve.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
find_program(NEURORAVE_QEMU_PATH ${NEURORAVE_QEMU})
# The guest's C library must be the cross toolchain's, the one its ld.so was built with.
# Where apt's multiarch has also put the target's libc in /lib/<triple> (installing any
# `:arm64` package does), that ld.so would otherwise load the other libc through qemu's
# fallback to host paths, and the mismatched pair hangs in the first pthread_create.
if(NEURORAVE_QEMU_PATH)
  # The multiarch folder after it: the target's libasound and libsndfile (the module).
  set(CMAKE_CROSSCOMPILING_EMULATOR ${NEURORAVE_QEMU_PATH} -L /usr/${NEURORAVE_CROSS_TRIPLE}
      -E LD_LIBRARY_PATH=/usr/${NEURORAVE_CROSS_TRIPLE}/lib:/usr/lib/${NEURORAVE_CROSS_TRIPLE})
endif()
# Libraries of the target architecture installed by apt under Debian multiarch
# (dpkg --add-architecture arm64; apt-get install libsndfile1-dev:arm64) live in
# /usr/lib/<triple>: the root "/" with the library architecture finds them there.
set(CMAKE_LIBRARY_ARCHITECTURE ${NEURORAVE_CROSS_TRIPLE})
list(APPEND CMAKE_FIND_ROOT_PATH /)
