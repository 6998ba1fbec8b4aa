#!/usr/bin/env bash
# Quick start 2: install what is missing, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# python3-torch for the tests against PyTorch (goldens, the registry, models moved to PyTorch and
# back), chromium for the tests that render the HTML pages, pytest, scikit-learn, pandas and
# nbclient for the Python package's tests (tests/python), mypy (its stubtest checks the type
# stubs), setuptools, wheel, build and venv (the package installed with pip, and as a wheel),
# onnx (its checker) and OpenCV (its DNN module runs our exported graphs) for the ONNX tests;
# Selenium with chromium-driver drives the board in Chromium.
bash scripts/deps.sh python3-torch chromium python3-pytest python3-sklearn python3-pandas python3-nbclient python3-ipykernel python3-nbformat python3-mypy \
  python3-setuptools python3-wheel python3-build python3-venv \
  python3-onnx python3-opencv python3-selenium chromium-driver
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
# Where this ran: results may differ in the last bits between CPUs and OpenBLAS kernel sets, so
# a log names both.
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores);" \
     "$(./build/app/gradflow --version)"
cd build && ctest --output-on-failure -j"$(nproc)"
