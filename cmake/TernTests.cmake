# How tern registers its tests with ctest: every test gets labels, so that a run can pick its share, and a
# TIMEOUT, so that a hang fails the run instead of stalling it.
#
#   unit      the library's tests, the examples and the quick CLI checks: `ctest -L unit`, under a minute on 2 cores
#   driver    the command-line drivers (train, quantize, eval, generate), in-process and end to end
#   slow      end-to-end runs of the `tern` binary (seconds each, minutes allowed), on top of driver
#   cuda      the CUDA backend's tests; without a GPU they check its clear errors and skip the rest
#   mpi       tests that need an MPI launcher
#   sanitize  every test of a TERN_SANITIZE build, on top of its other labels
#
# `ctest -L unit -LE slow` is the quick loop while editing; `ctest` runs everything.

include(GoogleTest)

# The labels `labels` in this build: sanitize is added under TERN_SANITIZE.
function(tern_test_labels out)
  set(labels ${ARGN})
  if(TERN_SANITIZE)
    list(APPEND labels sanitize)
  endif()
  set(${out} "${labels}" PARENT_SCOPE)
endfunction()

# tern_label_tests(TESTS <name>... LABELS <label>... TIMEOUT <seconds>): for tests made with add_test; they run in
# TERN_TEST_ENVIRONMENT.
function(tern_label_tests)
  cmake_parse_arguments(A "" "TIMEOUT" "TESTS;LABELS" ${ARGN})
  tern_test_labels(labels ${A_LABELS})
  set_tests_properties(${A_TESTS} PROPERTIES LABELS "${labels}" TIMEOUT ${A_TIMEOUT}
                       ENVIRONMENT "${TERN_TEST_ENVIRONMENT}")
endfunction()

# The environment of every test: two threads, and OpenMP threads that sleep when idle, as the `tern` command's
# (tools/cli/main.cpp); on a busy machine spinning threads slow the suite down (5 s against 8 s for tern_tests).
set(TERN_TEST_ENVIRONMENT "TERN_NUM_THREADS=2;OMP_WAIT_POLICY=passive")

# tern_discover_tests(<gtest target> NAME <part> [FILTER <gtest filter>] LABELS <label>... TIMEOUT <seconds>):
# the target's tests that match FILTER (all without one), each a ctest test in TERN_TEST_ENVIRONMENT.
# gtest_discover_tests cannot pass a list (several labels) through its PROPERTIES, so the properties are set by
# a ctest include file that runs after the discovered tests are added, from the list of their names.
function(tern_discover_tests target)
  cmake_parse_arguments(A "" "NAME;FILTER;TIMEOUT" "LABELS" ${ARGN})
  tern_test_labels(labels ${A_LABELS})
  set(list_var ${target}_${A_NAME}_tests)
  set(filter)
  if(A_FILTER)
    set(filter TEST_FILTER ${A_FILTER})
  endif()
  gtest_discover_tests(${target} ${filter} TEST_LIST ${list_var} DISCOVERY_TIMEOUT 60)
  set(script ${CMAKE_CURRENT_BINARY_DIR}/${list_var}_labels.cmake)
  file(WRITE ${script} "if(${list_var})\n"
                       "  set_tests_properties(\${${list_var}} PROPERTIES LABELS \"${labels}\" TIMEOUT ${A_TIMEOUT}\n"
                       "                       ENVIRONMENT \"${TERN_TEST_ENVIRONMENT}\")\n"
                       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${script})
endfunction()
