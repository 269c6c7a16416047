add_test([=[Smoke.AddAndBackward]=]  /work/main/build/tests/tern_tests [==[--gtest_filter=Smoke.AddAndBackward]==] --gtest_also_run_disabled_tests)
set_tests_properties([=[Smoke.AddAndBackward]=]  PROPERTIES WORKING_DIRECTORY /work/main/build/tests SKIP_REGULAR_EXPRESSION [==[\[  SKIPPED \]]==] ENVIRONMENT [==[TERN_NUM_THREADS=2]==])
set(  tern_tests_TESTS Smoke.AddAndBackward)
