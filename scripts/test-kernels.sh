#!/usr/bin/env bash
# The whole test suite under every sgemm code path this CPU can run — oneDNN's instruction sets
# (ONEDNN_MAX_CPU_ISA) and OpenBLAS's kernel sets (GRADFLOW_SGEMM=openblas OPENBLAS_CORETYPE) —
# each with 1, 2 and 3 compute threads: a test must hold on any x86-64 CPU, and CI's may take
# another code path than yours.
# Usage: bash scripts/test-kernels.sh [onednn:ISA|onednn-only:ISA|openblas:CORETYPE ...]   (default: all that apply here)
# Builds like scripts/test.sh; prints one line per run and exits non-zero if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh python3-torch chromium python3-pytest python3-sklearn python3-pandas python3-nbclient python3-ipykernel python3-nbformat
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null && cmake --build build -j"$(nproc)" > /dev/null || exit 1

paths=("$@")
if [ ${#paths[@]} -eq 0 ]; then
  # Each code path needs these instruction sets; a CPU without them would crash (SIGILL).
  has() { grep -qw "$1" /proc/cpuinfo; }
  avx512=false; has avx512bw && has avx512vl && avx512=true
  avx2=false; has avx2 && has fma && avx2=true
  if GRADFLOW_SGEMM=onednn ./build/app/gradflow --version > /dev/null 2>&1; then
    has sse4_1 && paths+=(onednn:SSE41)
    has avx && paths+=(onednn:AVX)
    $avx2 && paths+=(onednn:AVX2)
    # With AVX-512 the small-batch Dense forward runs through libxsmm where the build has it;
    # onednn-only runs the same code path without it (GRADFLOW_XSMM=0).
    $avx512 && paths+=(onednn:AVX512_CORE onednn-only:AVX512_CORE)
  fi
  paths+=(openblas:Prescott)
  has avx && paths+=(openblas:Sandybridge)
  $avx2 && paths+=(openblas:Haswell openblas:Zen)
  $avx512 && paths+=(openblas:SkylakeX)
fi
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores)"
failed=0
for p in "${paths[@]}"; do
  lib=${p%%:*} set=${p#*:}
  case $lib in
    onednn) env=(GRADFLOW_SGEMM=onednn ONEDNN_MAX_CPU_ISA="$set") ;;
    onednn-only) env=(GRADFLOW_SGEMM=onednn ONEDNN_MAX_CPU_ISA="$set" GRADFLOW_XSMM=0) ;;
    openblas) env=(GRADFLOW_SGEMM=openblas OPENBLAS_CORETYPE="$set") ;;
    *) echo "unknown code path '$p' (expected onednn:ISA, onednn-only:ISA or openblas:CORETYPE)"; exit 2 ;;
  esac
  for threads in 1 2 3; do
    log="build/test-kernels-$lib-$set-$threads.log"
    start=$SECONDS
    if (cd build && env "${env[@]}" GRADFLOW_NUM_THREADS=$threads ctest -j"$(nproc)" > "../$log" 2>&1); then
      status=ok
    else
      status=FAILED; failed=1
    fi
    echo "$(env "${env[@]}" GRADFLOW_NUM_THREADS=$threads ./build/app/gradflow --version):" \
         "$(grep -E 'tests passed|tests failed' "$log" | tail -1) [$status, $((SECONDS - start)) s, $log]"
    [ $status = ok ] || grep -E '^\s+[0-9]+ - ' "$log"
  done
done
exit $failed
