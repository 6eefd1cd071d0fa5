# Cross-build stylert's extension for 64-bit ARM Linux (Jetson's CPU architecture) on an
# x86-64 Debian host: Debian's g++-aarch64-linux-gnu, and Python's headers (and pybind11's)
# from an arm64 Debian root made by debootstrap (make check-arm64 makes one and passes it):
#   cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DSTYLERT_ARM64_ROOT=/path/to/root -DSTYLERT_CUDA=OFF -DSTYLERT_NATIVE=OFF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Toolchain files are read again by try_compile: pass the root on to those projects too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES STYLERT_ARM64_ROOT)
if(NOT STYLERT_ARM64_ROOT)
  set(STYLERT_ARM64_ROOT "$ENV{STYLERT_ARM64_ROOT}")
endif()
if(NOT STYLERT_ARM64_ROOT OR NOT EXISTS "${STYLERT_ARM64_ROOT}/usr/include")
  message(FATAL_ERROR "aarch64-linux-gnu.cmake: set STYLERT_ARM64_ROOT to an arm64 Debian root "
                      "with libpython3-dev and pybind11-dev (make check-arm64 makes one)")
endif()

# The compiler keeps its own C library (/usr/aarch64-linux-gnu); the root's headers come
# last (-idirafter), so only what the compiler lacks is taken from there: Python.h's
# multiarch <aarch64-linux-gnu/python3.X/pyconfig.h>, pybind11. Being in the compiler's own
# search list, the root's include folder is never passed again as -isystem ahead of libc.
set(CMAKE_C_FLAGS_INIT "-idirafter ${STYLERT_ARM64_ROOT}/usr/include")
set(CMAKE_CXX_FLAGS_INIT "-idirafter ${STYLERT_ARM64_ROOT}/usr/include")

# Packages (pybind11), headers and libraries from the root; programs from the host.
set(CMAKE_FIND_ROOT_PATH "${STYLERT_ARM64_ROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The target's Python: its version from the root's headers; the module suffix is the
# target's (the host's interpreter, found for the build, would name an x86-64 one).
file(GLOB _stylert_pyinc LIST_DIRECTORIES true "${STYLERT_ARM64_ROOT}/usr/include/python3.*")
list(FILTER _stylert_pyinc EXCLUDE REGEX "d$")  # debug builds (python3.Xd)
list(GET _stylert_pyinc 0 _stylert_pyinc)
string(REGEX MATCH "python3\\.([0-9]+)$" _ "${_stylert_pyinc}")
set(_stylert_soabi "cpython-3${CMAKE_MATCH_1}-aarch64-linux-gnu")
# Plain variables, not cache entries: pybind11 drops its cached suffix on a first configure.
set(Python_INCLUDE_DIR "${_stylert_pyinc}")
set(Python_SOABI "${_stylert_soabi}")
set(PYTHON_MODULE_EXTENSION ".${_stylert_soabi}.so")
# The build runs a host interpreter; one of the root's version keeps FindPython's version
# check between interpreter and headers satisfied.
if(NOT Python_EXECUTABLE AND EXISTS "/usr/bin/python3.${CMAKE_MATCH_1}")
  set(Python_EXECUTABLE "/usr/bin/python3.${CMAKE_MATCH_1}")
endif()
