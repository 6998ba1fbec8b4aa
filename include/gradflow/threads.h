// Thread count for gradflow's compute: the GEMM threads of OpenBLAS.
//
// OpenBLAS keeps its thread pool per process, so this setting is process-wide by nature
// (not gradflow's own global). Results are bit-identical for a given seed and thread count;
// a different thread count may change the summation order inside sgemm.
#pragma once

namespace gradflow {

// Use n threads (n >= 1) for matrix products. 0 means "all cores".
void set_num_threads(int n);
int num_threads();
// The OpenBLAS kernel family in use ("SkylakeX", "Haswell", "Zen", ...). Where OpenBLAS
// 0.3.21 does not recognize the CPU and falls back to its SSE3 kernels, gradflow selects the
// AVX-512 or AVX2 kernels the CPU has (unless OPENBLAS_CORETYPE is set).
const char* blas_kernels();

}  // namespace gradflow
