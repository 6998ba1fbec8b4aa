// Thread scaling beyond this machine's cores, modeled: a training step of the default network
// (784-512-256-10, BatchNorm, ReLU, dropout 0.1, Adam, batch 128) and of the ReLU recipe
// (784-256-128-10, SGD, batch 64) run with every parallel region split as T threads would split
// it (parallel::Simulation), its parts one after another on one core; a region then counts as its
// slowest part plus kRegionCost (a hand-off and a wait; ≈0.5 µs measured on 2 cores, doubled for
// a bigger machine's longer distances). What the model leaves out: the parts' shared caches and
// memory bandwidth (here they run on one core in turn, each finding the operands the one before
// left in L2), so it is an upper bound; docs/history/performance-log.md compares it with 2 real threads.
//
// Beside the model, the real rates on 1 and 2 threads and the ceiling for 2 threads measured in
// the same run: two one-thread processes training at once, their rates summed (docs/performance.md).
//
//   bench_threads [samples=4096] [recipe=default|relu|both] [THREADS]
// With THREADS, no model: the recipe trains on that many real threads for a few epochs (what
// bench/profile_step records), and prints its rate.
#include <gradflow/gradflow.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sched.h>
#include <string>
#include <vector>

#include "bench_common.h"
#include "core/parallel.h"

namespace {
using namespace gradflow;
constexpr double kRegionCost = 1e-6;

struct Recipe {
  const char* key;  // the command line's name
  const char* name;
  std::vector<LayerSpec> layers;
  std::size_t batch;
  bool adam;
};

// Seconds for one epoch on `threads` real threads, or modeled for `simulated` ones (> 0).
double epoch_seconds(const Recipe& r, const Dataset& d, int threads, int simulated, double* regions_per_step) {
  set_num_threads(threads);
  Sequential net(784, r.layers, 1);
  Loss ce(LossKind::CrossEntropy);
  Adam adam(AdamOptions{.lr = 4e-3});
  SGD sgd(SGDOptions{.lr = 0.01});
  Optimizer& opt = r.adam ? static_cast<Optimizer&>(adam) : sgd;
  Trainer trainer(net, ce, opt, TrainOptions{.epochs = 1, .batch_size = r.batch, .seed = 2});
  trainer.fit(d);  // warm-up: buffers, threads, kernels
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    parallel::Simulation sim{.threads = simulated};
    if (simulated > 0) parallel::simulate(&sim);
    const auto t0 = std::chrono::steady_clock::now();
    trainer.fit(d);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    parallel::simulate(nullptr);
    if (simulated > 0) {
      s += sim.slowest_s - sim.all_s + static_cast<double>(sim.regions) * kRegionCost;
      *regions_per_step = static_cast<double>(sim.regions) / static_cast<double>(trainer.steps_per_epoch(d.size()));
    }
    best = std::min(best, s);
  }
  return best;
}

// Two one-thread processes of this program training `recipe` at once, each pinned to its own
// CPU (left to the scheduler, both children of a busy parent were seen sharing one CPU while the
// other idled): their samples/s, summed.
double two_processes(const char* self, std::size_t n, const char* recipe) {
  cpu_set_t allowed;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2) {
    std::fprintf(stderr, "bench_threads: the two-process ceiling needs two CPUs\n");
    std::exit(1);
  }
  FILE* runs[2];
  std::string cmds[2];
  for (int i = 0; i < 2; ++i) {
    cmds[i] = "taskset -c " + std::to_string(cpus[i]) + " " + self + " " + std::to_string(n) + " " + recipe + " 1";
    runs[i] = popen(cmds[i].c_str(), "r");
  }
  double sum = 0;
  for (int i = 0; i < 2; ++i) {
    char line[512];
    double rate = 0;
    while (runs[i] && std::fgets(line, sizeof line, runs[i]))
      if (const char* at = std::strstr(line, "thread(s) ")) rate = std::atof(at + 10);
    if (!runs[i] || pclose(runs[i]) != 0 || rate <= 0) {
      std::fprintf(stderr, "bench_threads: a one-thread process (%s) failed\n", cmds[i].c_str());
      std::exit(1);
    }
    sum += rate;
  }
  return sum;
}
}  // namespace

int main(int argc, char** argv) {
  select_openblas_kernels();
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 4096;
  const std::string which = argc > 2 ? argv[2] : "both";
  const Dataset d = bench::random_fashion_shaped(n);
  std::vector<Recipe> recipes;
  if (which != "relu")
    recipes.push_back({"default", "default network 784-512-256-10 BN+ReLU+dropout, Adam, batch 128",
                       {nn::dense(512), nn::batch_norm(), nn::relu(), nn::dropout(0.1f), nn::dense(256),
                        nn::batch_norm(), nn::relu(), nn::dropout(0.1f), nn::dense(10)},
                       128, true});
  if (which != "default")
    recipes.push_back({"relu", "ReLU recipe 784-256-128-10, SGD, batch 64",
                       {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(10)}, 64, false});
  std::printf("sgemm %s\n", blas_kernels());
  if (argc > 3) {
    const int threads = std::atoi(argv[3]);
    double regions = 0;
    for (const Recipe& r : recipes) {
      double best = 1e30;  // 12 epochs, so that making the data is ~1% of the profile
      for (int i = 0; i < 3; ++i) best = std::min(best, epoch_seconds(r, d, threads, 0, &regions));
      std::printf("%s: %d thread(s) %.0f samples/s\n", r.name, threads, n / best);
    }
    return 0;
  }
  for (const Recipe& r : recipes) {
    double regions = 0;
    const double real1 = epoch_seconds(r, d, 1, 0, &regions), real2 = epoch_seconds(r, d, 2, 0, &regions);
    const double ceiling = two_processes(argv[0], n, r.key);
    std::printf("%s: real 1 thread %.0f samples/s, 2 threads %.0f (%.2f×); two one-thread processes at once %.0f: "
                "2 threads are %.0f%% of them\n",
                r.name, n / real1, n / real2, real1 / real2, ceiling, 100.0 * n / real2 / ceiling);
    double one = 0;
    for (int t : {1, 2, 4, 8, 12, 16, 24, 32}) {
      const double s = epoch_seconds(r, d, 1, t, &regions);
      if (t == 1) one = s;
      char share[64] = "";
      if (t == 2) std::snprintf(share, sizeof share, " (%.0f%% of the two processes)", 100.0 * n / s / ceiling);
      std::printf("  modeled %2d threads: %8.0f samples/s, %.2f× one, %.0f regions a step%s\n", t, n / s, one / s,
                  regions, share);
    }
  }
}
