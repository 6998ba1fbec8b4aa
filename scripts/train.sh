#!/usr/bin/env bash
# Quick start 1: install what is missing, build (Release), and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
./build/app/gradflow train "$@"
