# Sourced by bench/compare, compare_activations and compare_recipe: what gradflow's sgemm string
# (blas_kernels()) says about the instruction set in use, and the side-by-side loop.
#
# PyTorch 1.13 runs its products through
# OpenBLAS; to be fair it gets OpenBLAS's kernels for the instruction set gradflow's sgemm uses.
#   peer_coretype "oneDNN 2.6.3 avx512_core" → SkylakeX; "oneDNN … avx2" → Haswell;
#   "OpenBLAS Zen" → Zen (gradflow's own OpenBLAS kernels); anything else → nothing (as detected)
peer_coretype() {
  case "$1" in
    OpenBLAS\ *) echo "${1#OpenBLAS }" ;;
    *avx512*) echo SkylakeX ;;
    *avx2*) echo Haswell ;;
    *\ avx) echo Sandybridge ;;
  esac
}

# The vector instruction set of bench_peak's lines that the products use: avx512 or avx2 (or
# nothing: an older one, which bench_peak does not measure).
#   vector_isa "oneDNN 2.6.3 avx512_core_bf16" → avx512; "OpenBLAS Zen" → avx2
vector_isa() {
  case "$(peer_coretype "$1")" in
    SkylakeX | Cooperlake | SapphireRapids) echo avx512 ;;
    Haswell | Zen) echo avx2 ;;
  esac
}

# The side-by-side loop of bench/compare and bench/compare_activations: ROUNDS interleaved rounds
# of gradflow's program and PyTorch's script on 1 and 2 threads, PyTorch both with OpenBLAS's
# kernels as detected and with those for gradflow's instruction set; one JSON line per run goes
# to RESULTS, prefixed "gradflow " or "pytorch " (PyTorch's with its "setting").
#   side_by_side RESULTS GRADFLOW_PROGRAM PYTORCH_SCRIPT EPOCHS ROUNDS
side_by_side() {
  local results=$1 program=$2 script=$3 epochs=$4 rounds=$5 round t line kernels core out
  for round in $(seq "$rounds"); do
    for t in 1 2; do
      echo "round $round: gradflow, $t thread(s)..." >&2
      line=$("$program" "$t" "$epochs")
      echo "gradflow $line" >> "$results"
      kernels=$(echo "$line" | sed 's/.*"kernels": "\([^"]*\)".*/\1/')
      for core in "" "$(peer_coretype "$kernels")"; do
        echo "pytorch, $t thread(s), OpenBLAS kernels: ${core:-as detected}..." >&2
        out=$(env ${core:+OPENBLAS_CORETYPE=$core} OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t \
              /usr/bin/python3 "$script" "$t" "$epochs")
        echo "pytorch ${out%\}}, \"setting\": \"${core:-as detected}\"}" >> "$results"
      done
    done
  done
}
