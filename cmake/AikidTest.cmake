# aikid_test(NAME SOURCES a.cpp… LIBS lib… [LABELS l…] [TIMEOUT s])
# One Boost.Test executable = one ctest entry. Tests see AIKID_SOURCE_DIR
# (fixtures under tests/) and AIKID_MODELS_DIR (models unpacked by setup).
# In a sanitizer tree each test also gets AIKID_SANITIZER_ENV (cmake/Sanitizers.cmake),
# and every test executable is a dependency of the `aikid_tests` target, so
# `cmake --build <tree> --target aikid aikid_tests` builds what the tests need
# without the benchmarks.
if(NOT TARGET aikid_tests)
  add_custom_target(aikid_tests)
endif()
function(aikid_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  add_dependencies(aikid_tests ${name})
  target_link_libraries(${name} PRIVATE Boost::unit_test_framework ${T_LIBS})
  target_compile_definitions(${name} PRIVATE
    AIKID_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    AIKID_MODELS_DIR="${AIKID_MODELS_DIR}"
    AIKID_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
  if(AIKID_SANITIZER_ENV)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${AIKID_SANITIZER_ENV}")
  endif()
endfunction()
