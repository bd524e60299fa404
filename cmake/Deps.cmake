# Finds every Debian 12 package aikid builds against and gives each one a
# target. CAF and BLIS ship no CMake config: they get imported targets here.
# See ../shared/notes/debian-deps.md for the facts behind each line.

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# --- CAF 0.17 (core + io) ----------------------------------------------------
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
if(NOT TARGET caf::core)
  add_library(caf::core SHARED IMPORTED)
  set_target_properties(caf::core PROPERTIES
    IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
  add_library(caf::io SHARED IMPORTED)
  set_target_properties(caf::io PROPERTIES
    IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
    INTERFACE_LINK_LIBRARIES caf::core)
endif()

# --- BLIS (pthread variant; its own blis.h/cblas.h, not OpenBLAS's) -----------
set(AIKID_BLIS_VARIANT pthread CACHE STRING "BLIS variant folder (pthread|openmp|serial)")
set(_blis_inc /usr/include/x86_64-linux-gnu/blis-${AIKID_BLIS_VARIANT})
set(_blis_lib /usr/lib/x86_64-linux-gnu/blis-${AIKID_BLIS_VARIANT})
find_path(BLIS_INCLUDE_DIR blis.h PATHS ${_blis_inc} NO_DEFAULT_PATH REQUIRED)
find_library(BLIS_LIBRARY blis PATHS ${_blis_lib} NO_DEFAULT_PATH REQUIRED)
get_filename_component(BLIS_LIBRARY_DIR "${BLIS_LIBRARY}" DIRECTORY)
if(NOT TARGET blis::blis)
  add_library(blis::blis SHARED IMPORTED)
  set_target_properties(blis::blis PROPERTIES
    IMPORTED_LOCATION "${BLIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${BLIS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
# Every variant's library is named libblis.so.4: installed binaries find the
# right one through this rpath.
list(APPEND CMAKE_INSTALL_RPATH "${BLIS_LIBRARY_DIR}")

# --- FAISS (OpenMP first) ----------------------------------------------------
find_package(OpenMP REQUIRED)
find_package(faiss REQUIRED)

# --- the rest ----------------------------------------------------------------
find_package(cppzmq REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(Boost 1.74 CONFIG REQUIRED COMPONENTS unit_test_framework)
find_package(SQLiteCpp REQUIRED)
find_package(mstch REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(simdjson 3.0 REQUIRED)  # the wire parser's fast path (ipc/protocol.cpp)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(benchmark REQUIRED)
find_package(date REQUIRED)
find_package(OpenSSL REQUIRED)  # libcrypto: SHA-256 of model files
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

# --- jemalloc: the daemon's malloc (as Redis links it) -------------------------
# A template render goes through mstch, which allocates and frees ~1,500 small
# blocks per call (it copies every node it pushes, the list of scopes at every
# name lookup, the tokens of every section it enters). With glibc's malloc
# 40 % of a render was its slow path (_int_malloc, unlink_chunk,
# malloc_consolidate once tcache's 7 blocks per size ran out); jemalloc halves
# render time (bench/synthesis). aikid_allocator is linked into the daemon and
# the benchmarks that measure what the daemon runs; engine tests keep glibc's.
# Sanitizer builds keep the sanitizer's allocator.
option(AIKID_JEMALLOC "Link the daemon against jemalloc (off in sanitizer trees)" ON)
add_library(aikid_allocator INTERFACE)
if(AIKID_JEMALLOC AND NOT AIKID_SANITIZE AND NOT AIKID_TSAN)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
  # Nothing calls jemalloc by name (it replaces malloc): keep the DT_NEEDED
  # entry even where the linker drops unreferenced libraries.
  target_link_libraries(aikid_allocator INTERFACE "-Wl,--push-state,--no-as-needed" PkgConfig::JEMALLOC
    "-Wl,--pop-state")
endif()
