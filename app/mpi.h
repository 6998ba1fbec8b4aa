// Data-parallel training over MPI: `mpirun -np N gradflow train …` (Open MPI from Debian).
//
// Every process (rank) holds the whole model, reads the data itself (the files are on every
// machine, or on a shared file system: reading is cheaper than scattering them), visits the
// batches in the same seeded order and computes its slice of each batch; the gradients are
// averaged with MPI_Allreduce so that every rank applies the same update. Rank 0 alone prints,
// writes the run folder and checkpoints. Without MPI (built with GRADFLOW_MPI off, or started
// without mpirun) this is one process: rank 0 of 1.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "gradflow/trainer.h"

namespace gradflow::app::mpi {

// MPI for the life of the process when it was started by mpirun (MPI_Init, and errors that
// return rather than abort, so that a lost peer becomes a clear message); nothing otherwise.
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

bool available();          // compiled with MPI
std::size_t rank();        // 0 without MPI
std::size_t size();        // 1 without MPI
inline bool root() { return rank() == 0; }
// Rank 0's value, on every rank.
std::string broadcast(const std::string& value);
// The gradient allreduce for Trainer (TrainOptions::reducer); nullptr for a single process.
std::unique_ptr<GradientReducer> make_reducer();
// Sum of `values` over the ranks, in place (BatchNorm's statistics across ranks).
void allreduce_sum(double* values, std::size_t count);

}  // namespace gradflow::app::mpi
