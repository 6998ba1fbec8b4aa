// The process's settings from its environment, read once, in one place (src/core/runtime.cpp):
//
//   GRADFLOW_NUM_THREADS  1 to 1024: the compute threads when set_num_threads(0) (default: one
//                         per core), as OMP_NUM_THREADS is for OpenMP programs
//   GRADFLOW_SGEMM        onednn | openblas: the library that runs the matrix products
//                         (default: oneDNN where the build has it)
//   GRADFLOW_XSMM         0 | 1: whether libxsmm may run small batches' products (default 1)
//   OPENBLAS_CORETYPE     only whether it is set: then OpenBLAS's own choice of kernels stands
//   OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK   only whether one is set: started by mpirun
//
// One policy: a variable set to a value outside those listed is an error, thrown as
// std::invalid_argument naming the variable, its value and the accepted values, by runtime()
// and so by everything that depends on it (the thread pool, the products). Programs call
// runtime() at start-up to fail there (the CLI exits with that line); `gradflow --version` shows
// what was chosen.
#pragma once

#include <string>

namespace gradflow {

struct Runtime {
  int threads = 0;            // GRADFLOW_NUM_THREADS; 0: unset
  std::string sgemm;          // GRADFLOW_SGEMM; "": unset
  bool xsmm = true;           // GRADFLOW_XSMM
  bool openblas_coretype = false;  // OPENBLAS_CORETYPE is set
  bool mpi_launcher = false;       // a variable mpirun sets is present
};

// The settings, read on the first call; throws (on every call) when one is invalid.
const Runtime& runtime();

// Where OpenBLAS 0.3.21 did not recognize the CPU and fell back to its SSE3 kernels, switch it to
// the AVX-512 or AVX2 kernels the CPU has (unless OPENBLAS_CORETYPE is set). OpenBLAS takes that
// choice only from its environment, so this sets OPENBLAS_CORETYPE while OpenBLAS reloads: a
// program calls it at start-up, before it starts threads (the CLI, the Python module and the
// benchmarks do). The library never calls it, nor anything else that changes the environment.
void select_openblas_kernels();

}  // namespace gradflow
