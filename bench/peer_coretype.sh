# Sourced by bench/compare and bench/compare_recipe. PyTorch 1.13 runs its products through
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
