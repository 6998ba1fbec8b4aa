#!/usr/bin/env bash
# Quick start 1: install what is missing, build (Release), and run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# Configure once (cmake --build configures again by itself when a CMakeLists.txt changes); build
# only the command-line tool and the Python module: the job should not wait for the tests and
# benchmarks.
grep -qs '^CMAKE_BUILD_TYPE:STRING=Release$' build/CMakeCache.txt ||
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target gradflow_cli _gradflow
# `import gradflow` for Debian's /usr/bin/python3: build/python on its path.
site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')
if mkdir -p "$site" 2>/dev/null && echo "$PWD/build/python" > "$site/gradflow.pth" 2>/dev/null; then :; else
  echo "note: cannot write $site/gradflow.pth (not root?): use PYTHONPATH=$PWD/build/python to import gradflow"
fi
./build/app/gradflow train "$@"
