# Sanitizer builds (issue 10). Included by the top-level CMakeLists.txt.
#   AIKID_SANITIZE=ON  ASan + UBSan; every UBSan finding is fatal
#                      (-fno-sanitize-recover=all), so a report fails the test.
#   AIKID_TSAN=ON      ThreadSanitizer (tests/tsan/ registers what runs there).
# AIKID_SANITIZER_ENV is the environment every registered test gets in such a
# tree (halt on the first report, suppression files of tests/sanitizers/);
# ./dev.sh test hands the same settings to the pytest run against that daemon.
# Fails the configure step when both are asked for (the runtimes exclude each other).
set(AIKID_SANITIZER_ENV "")
# Code generation of a sanitizer tree, after the build type's flags (the last
# -O/-g wins; files with their own -O3 keep it): -O1 with line tables only
# halves the compile time of a -O2 -g build (ipc/protocol.cpp under ASan+UBSan:
# 12.0 s vs 24.6 s CPU), which is most of what this tree costs CI, and keeps
# file:line in every report.
set(AIKID_SANITIZER_CODEGEN "-O1;-g1" CACHE STRING "Compile options of a sanitizer tree (after the build type's)")
set(_san_dir ${CMAKE_SOURCE_DIR}/tests/sanitizers)
if(AIKID_SANITIZE AND AIKID_TSAN)
  message(FATAL_ERROR "AIKID_SANITIZE (ASan+UBSan) and AIKID_TSAN cannot be combined: use two build trees")
endif()
if(AIKID_SANITIZE OR AIKID_TSAN)
  add_compile_options(${AIKID_SANITIZER_CODEGEN})
endif()
if(AIKID_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
  set(AIKID_SANITIZER_ENV
    "ASAN_OPTIONS=halt_on_error=1:detect_leaks=1"
    "LSAN_OPTIONS=suppressions=${_san_dir}/lsan.supp:print_suppressions=0"
    "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
    # long property tests run a fifth of their iterations (tests say so)
    "AIKID_SANITIZED=1")
elseif(AIKID_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # OpenMP (FAISS) and BLIS run uninstrumented threads: one thread each, so
  # the only threads are the engines' own (see tests/sanitizers/tsan.supp).
  set(AIKID_SANITIZER_ENV
    "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=${_san_dir}/tsan.supp"
    "OMP_NUM_THREADS=1" "BLIS_NUM_THREADS=1")
endif()
# The same settings as a shell file for runs outside ctest (./dev.sh sources it).
set(_san_env "# Written by cmake/Sanitizers.cmake: the sanitizer settings of this tree.\n")
foreach(kv ${AIKID_SANITIZER_ENV})
  string(REGEX REPLACE "^([A-Z_]+)=(.*)$" "\\1='\\2'" _line "${kv}")
  string(APPEND _san_env "${_line}\n")
endforeach()
file(WRITE ${CMAKE_BINARY_DIR}/sanitizer.env "${_san_env}")
