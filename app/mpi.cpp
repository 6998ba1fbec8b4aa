#include "mpi.h"

#include "gradflow/runtime.h"

#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#ifdef GRADFLOW_HAVE_MPI
#include <mpi.h>
#endif

namespace gradflow::app::mpi {

#ifdef GRADFLOW_HAVE_MPI

namespace {
bool g_active = false;

// Started by mpirun (Open MPI's launcher, or a PMI-based one)?
bool launched_by_mpirun() {
  return gradflow::runtime().mpi_launcher;
}

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw std::runtime_error(fmt::format("rank {}: {} failed ({}): another process of this job stopped or cannot be "
                                       "reached",
                                       rank(), call, std::string(text, static_cast<std::size_t>(len))));
}

// Averages the slices' gradients: each rank scales its slice's by rows/batch (its share of the
// batch's mean) and MPI_Allreduce sums them, in buckets of 1 Mi floats (large messages, bounded
// temporary memory inside MPI). The loss, the correct count and the stop request go in one
// small extra allreduce. Not overlapped with the backward pass: for the models gradflow trains
// the whole exchange is a few milliseconds (see docs/scale-out.md, its cost model).
class AllreduceReducer final : public GradientReducer {
 public:
  std::size_t rank() const override { return mpi::rank(); }
  std::size_t size() const override { return mpi::size(); }
  void sum(double* values, std::size_t count) override { allreduce_sum(values, count); }
  void reduce(Sequential& model, std::size_t rows, std::size_t batch_rows, double& loss, std::size_t& correct,
              bool& stop) override {
    constexpr std::size_t kBucket = std::size_t{1} << 20;
    float* g = model.gradients().data();
    const std::size_t n = model.num_params();
    const auto share = static_cast<float>(static_cast<double>(rows) / static_cast<double>(batch_rows));
    for (std::size_t i = 0; i < n; ++i) g[i] *= share;
    for (std::size_t off = 0; off < n; off += kBucket)
      check(MPI_Allreduce(MPI_IN_PLACE, g + off, static_cast<int>(std::min(kBucket, n - off)), MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD),
            "MPI_Allreduce");
    double s[3] = {loss * static_cast<double>(rows), static_cast<double>(correct), stop ? 1.0 : 0.0};
    check(MPI_Allreduce(MPI_IN_PLACE, s, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    loss = s[0] / static_cast<double>(batch_rows);
    correct = static_cast<std::size_t>(s[1] + 0.5);
    stop = s[2] > 0;
  }
};
}  // namespace

Session::Session(int& argc, char**& argv) {
  if (!launched_by_mpirun()) return;
  MPI_Init(&argc, &argv);
  // A lost peer is an error code we turn into a message, not an abort without one.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  g_active = true;
}

Session::~Session() {
  if (g_active) MPI_Finalize();
}

bool available() { return true; }

std::size_t rank() {
  if (!g_active) return 0;
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return static_cast<std::size_t>(r);
}

std::size_t size() {
  if (!g_active) return 1;
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return static_cast<std::size_t>(s);
}

std::string broadcast(const std::string& value) {
  if (size() == 1) return value;
  unsigned long long n = value.size();
  check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = root() ? value : std::string(n, '\0');
  check(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
}

std::unique_ptr<GradientReducer> make_reducer() {
  if (size() == 1) return nullptr;
  return std::make_unique<AllreduceReducer>();
}

void allreduce_sum(double* values, std::size_t count) {
  if (size() == 1) return;
  check(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce");
}

#else  // built without MPI: one process

Session::Session(int&, char**&) {}
Session::~Session() = default;
bool available() { return false; }
std::size_t rank() { return 0; }
std::size_t size() { return 1; }
std::string broadcast(const std::string& value) { return value; }
std::unique_ptr<GradientReducer> make_reducer() { return nullptr; }
void allreduce_sum(double*, std::size_t) {}

#endif

}  // namespace gradflow::app::mpi
