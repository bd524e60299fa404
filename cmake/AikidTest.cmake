# aikid_test(NAME SOURCES a.cpp… LIBS lib… [LABELS l…] [TIMEOUT s])
# One Boost.Test executable = one ctest entry. Tests see AIKID_SOURCE_DIR
# (fixtures under tests/) and AIKID_MODELS_DIR (models unpacked by setup).
function(aikid_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
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
endfunction()
