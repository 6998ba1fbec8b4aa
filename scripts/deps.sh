#!/usr/bin/env bash
# Install the Debian packages gradflow builds and tests with, if any is missing (as root).
set -euo pipefail
# Everything the build looks for is here, so that scripts/train.sh and scripts/test.sh configure
# the same build whichever runs first (Open MPI: data-parallel training; pybind11: the Python
# module; ONNX: export and import; cpp-httplib: `gradflow board`; CMake records what it did not
# find).
pkgs=(cmake g++ make pkg-config libopenblas-dev libfmt-dev libcli11-dev nlohmann-json3-dev
      zlib1g-dev libgtest-dev libgmock-dev libdnnl-dev libxsmm-dev libsleef-dev dataset-fashion-mnist
      openmpi-bin libopenmpi-dev pybind11-dev python3-dev python3-numpy libonnx-dev libprotobuf-dev libcpp-httplib-dev "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
