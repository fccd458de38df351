# Cross-build for 64-bit ARM Linux (Jetson, Raspberry Pi 4/5, phones' cores) with Debian's cross compiler and the
# sysroot that scripts/arm64_sysroot.sh makes from Debian's arm64 packages. Tests run under qemu-aarch64 (user
# mode, no binfmt handler: CMake runs each test binary through the emulator named here).
#   scripts/arm64_sysroot.sh
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# DYNDNN_SYSROOT picks another sysroot (default: build-arm64/sysroot next to this source tree).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(NOT DYNDNN_SYSROOT)
  get_filename_component(DYNDNN_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build-arm64/sysroot" ABSOLUTE)
endif()
set(DYNDNN_SYSROOT "${DYNDNN_SYSROOT}" CACHE PATH "aarch64 sysroot (scripts/arm64_sysroot.sh makes one)")
if(NOT EXISTS "${DYNDNN_SYSROOT}/.dyndnn-sysroot")
  message(FATAL_ERROR "No aarch64 sysroot at ${DYNDNN_SYSROOT}: run scripts/arm64_sysroot.sh first "
                      "(or pass -DDYNDNN_SYSROOT=DIR)")
endif()
set(CMAKE_SYSROOT "${DYNDNN_SYSROOT}")

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Search the sysroot for libraries, headers and packages; programs (python3, the code generators) from this machine.
set(CMAKE_FIND_ROOT_PATH "${DYNDNN_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# QEMU_CPU is read from the environment when a test runs (cortex-a72: NEON only, like a Pi 4 or a Jetson Nano;
# unset: qemu's "max", which has SVE).
find_program(DYNDNN_QEMU_AARCH64 qemu-aarch64 NO_CMAKE_FIND_ROOT_PATH)
if(DYNDNN_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${DYNDNN_QEMU_AARCH64};-L;${DYNDNN_SYSROOT}")
endif()
