# Sourced by bench/compare and bench/compare_recipe: what gradflow's sgemm string (blas_kernels())
# says about the instruction set in use.
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
