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

}  // namespace gradflow
