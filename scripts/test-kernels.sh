#!/usr/bin/env bash
# The whole test suite under every OpenBLAS kernel set this CPU can run, each with 1, 2 and 3
# compute threads: a test must hold on any x86-64 CPU, and CI's may pick other kernels than
# yours. Usage: bash scripts/test-kernels.sh [CORETYPE...]   (default: all that apply here)
# Builds like scripts/test.sh; prints one line per run and exits non-zero if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3-torch chromium openmpi-bin libopenmpi-dev
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null && cmake --build build -j"$(nproc)" > /dev/null || exit 1

cores=("$@")
if [ ${#cores[@]} -eq 0 ]; then
  # OpenBLAS's kernels need these instruction sets; a CPU without them would crash (SIGILL).
  cores=(Prescott)
  grep -qw avx /proc/cpuinfo && cores+=(Sandybridge)
  grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && cores+=(Haswell Zen)
  grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && cores+=(SkylakeX)
fi
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores)"
failed=0
for core in "${cores[@]}"; do
  for threads in 1 2 3; do
    log="build/test-kernels-$core-$threads.log"
    start=$SECONDS
    if (cd build && OPENBLAS_CORETYPE=$core GRADFLOW_NUM_THREADS=$threads ctest -j"$(nproc)" > "../$log" 2>&1); then
      status=ok
    else
      status=FAILED; failed=1
    fi
    echo "$(OPENBLAS_CORETYPE=$core GRADFLOW_NUM_THREADS=$threads ./build/app/gradflow --version):" \
         "$(grep -E 'tests passed|tests failed' "$log" | tail -1) [$status, $((SECONDS - start)) s, $log]"
    [ $status = ok ] || grep -E '^\s+[0-9]+ - ' "$log"
  done
done
exit $failed
