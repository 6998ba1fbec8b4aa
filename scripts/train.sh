#!/usr/bin/env bash
# Quick start 1: install what is missing, build (Release), and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# Configure once (cmake --build configures again by itself when a CMakeLists.txt changes); build
# only the command-line tool: the job should not wait for the tests and benchmarks.
grep -qs '^CMAKE_BUILD_TYPE:STRING=Release$' build/CMakeCache.txt ||
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target gradflow_cli
./build/app/gradflow train "$@"
