#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, and the thread pool and
# parallel training under ThreadSanitizer. Any report fails the run (-fno-sanitize-recover).
# CI runs it after scripts/test.sh. Build folders: build-asan, build-tsan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3-torch chromium
jobs=$(nproc)
# -O1: what the sanitizers' documentation suggests, and the ASan build of the whole tree compiles
# in 3.0 min instead of 4.4 at -O2 (two cores; the tests run as fast): a clean CI run 9.8 → 7.3–7.9 min.
# A unity build (each target's sources compiled as a few files, so the headers and their
# templates — nlohmann::json, fmt, protobuf, gtest — are compiled once per batch): the ASan tree
# in 5.9 min instead of 8.2 (CPU 11.0 against 15.3 min). The Release build stays one file per
# source: its numerics are the ones compared with PyTorch, and inlining across sources could
# contract other multiply-adds.
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DCMAKE_UNITY_BUILD=ON)

echo "== ASan+UBSan: the whole suite"
# (No Python module: CPython would have to load the sanitizer runtime first.)
cmake -S . -B build-asan "${flags[@]}" -DGRADFLOW_SANITIZE=address,undefined \
      -DGRADFLOW_BUILD_BENCH=OFF -DGRADFLOW_PYTHON=OFF > /dev/null
cmake --build build-asan -j"$jobs" > /dev/null
# Left out: the installed-package test (its separate project would need the sanitizer
# runtime too) and the two tests that only drive Python and Chromium.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest -j"$jobs" --output-on-failure \
         -E 'InstalledPackage|ModelsMoveToPyTorchAndBack|ReportAndCompareOpenInHeadlessChromium|Mpi\.')
# The MPI tests run every other check, but not LeakSanitizer: Open MPI does not free all it
# allocates by MPI_Finalize, in plugins it has unloaded by then (no frames to suppress by).
(cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest -j1 --output-on-failure -R 'Mpi\.')

echo "== TSan: thread pool, parallel training, threads sharing one model"
cmake -S . -B build-tsan "${flags[@]}" -DGRADFLOW_SANITIZE=thread \
      -DGRADFLOW_BUILD_BENCH=OFF -DGRADFLOW_BUILD_CLI=OFF -DGRADFLOW_PYTHON=OFF > /dev/null
cmake --build build-tsan -j"$jobs" --target test_parallel test_optimizer test_sequential > /dev/null
# TSan cannot start threads in the child of a multi-threaded fork (the fork test runs in the
# ASan build). The tests that train on 1 to 16 threads set their thread counts themselves, so they
# run in the first pass only (40 s each under TSan).
for t in test_parallel test_optimizer; do
  for threads in 2 3; do
    skip=Region.AForkedChildComputesWithFreshThreads
    [ "$threads" = 2 ] || skip+=":*AnyThreadCount*"
    GRADFLOW_NUM_THREADS=$threads TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
      ./build-tsan/tests/$t --gtest_brief=1 --gtest_filter=-$skip
  done
done
# Eight threads predicting with one model, and a second thread's fit refused.
GRADFLOW_NUM_THREADS=2 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ./build-tsan/tests/test_sequential --gtest_brief=1 --gtest_filter='Evaluate.*:TrainingClaim.*'
echo "sanitizers: no reports"
