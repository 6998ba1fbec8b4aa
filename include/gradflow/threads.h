// Thread count for gradflow's compute.
//
// gradflow runs every matrix product and every large element-wise pass (activations, batch
// norm, optimizer updates) split over a process-wide pool of compute threads, the calling
// thread included; the sgemm library (oneDNN or OpenBLAS) runs on one thread per call. The pool
// is process-wide like a BLAS's own (a machine has one set of cores). Results are bit-identical
// for a given seed and thread count, and the same for any thread count: element-wise work gives
// the same bits however it is split, and matrix products run in tiles fixed by their shapes
// alone (one product call per tile, whichever thread runs it; up to 16 tiles a product, so a
// 16-core machine can use every core). Checked on oneDNN's SSE4.1, AVX, AVX2 and AVX-512 code
// and OpenBLAS's SkylakeX, Haswell, Zen, Sandybridge and Prescott kernels with 1, 2 and 3
// threads (scripts/test-kernels.sh), and with 1 to 16 threads by the tests.
//
// Calls from several threads of a program at once are safe: while one call is using the pool,
// the others run on their own thread.
#pragma once

namespace gradflow {

// Use n threads (n >= 1); 0 means the default: the environment variable GRADFLOW_NUM_THREADS
// when it is a positive number, else one per core. Call it while no computation runs.
void set_num_threads(int n);
int num_threads();

// While it lives, the calling thread's gradflow calls use at most n threads (n >= 1; 0: no
// limit) of the process's num_threads(); other threads are unaffected, and the bits are the same
// (any thread count gives them). Two models trained at once from two threads can each have
// their own count without changing the process's (scikit-learn estimators' n_threads).
class ThreadLimit {
 public:
  explicit ThreadLimit(int n);
  ~ThreadLimit();
  ThreadLimit(const ThreadLimit&) = delete;
  ThreadLimit& operator=(const ThreadLimit&) = delete;

 private:
  int previous_;
};
// The library that runs the matrix products and its code path: "oneDNN 2.6.3 avx512_core"
// (the ISA oneDNN's JIT targets; ONEDNN_MAX_CPU_ISA caps it) or "OpenBLAS Haswell" (its kernel
// family; OPENBLAS_CORETYPE chooses it). oneDNN where the build has it, else OpenBLAS; the
// environment variable GRADFLOW_SGEMM=onednn|openblas chooses. One library per process: the two
// round differently. Where OpenBLAS 0.3.21 does not recognize the CPU and falls back to its SSE3
// kernels, gradflow selects the AVX-512 or AVX2 kernels the CPU has (unless OPENBLAS_CORETYPE
// is set). Throws std::invalid_argument when GRADFLOW_SGEMM names no library this build has
// (the products then run on the default one).
const char* blas_kernels();

}  // namespace gradflow
