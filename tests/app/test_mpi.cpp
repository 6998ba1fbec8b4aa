// Data-parallel training over MPI, on loopback: the same model as one process at the same
// global batch (to float tolerance: the sums run in another order), SyncBatchNorm, per-rank
// BatchNorm, a killed rank and --resume with the same or another number of ranks, and a run
// folder written once. Skipped, with the reason, when gradflow was built without MPI.
#include <signal.h>

#include <chrono>
#include <thread>

#include "cli_helpers.h"

namespace gradflow_cli_test {
namespace {

class Mpi : public Cli {
 protected:
  void SetUp() override {
    Cli::SetUp();
#ifndef GRADFLOW_TEST_MPI
    GTEST_FAIL() << "gradflow was built without MPI (GRADFLOW_MPI off: openmpi-bin and libopenmpi-dev not installed) (scripts/test.sh installs it)";
#endif
    if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_FAIL() << "mpirun is not installed (scripts/test.sh installs it)";
  }
  // `gradflow ARGS` as N ranks of one MPI job (ARGS say --threads 1: 2 cores).
  static std::string mpirun(int n, const std::string& args) {
    return "mpirun --oversubscribe --allow-run-as-root -np " + std::to_string(n) + " " + GRADFLOW_CLI + " " + args;
  }
  std::vector<double> predictions(const std::string& model) const {
    const std::string in = write("p.csv", "x1,x2\n0.5,0.2\n-1,0.3\n2,-0.5\n1.5,1.5\n0,0\n");
    const Result r = run("predict --model " + model + " --input " + in);
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<double> p;
    std::stringstream ss(r.out);
    std::string line;
    std::getline(ss, line);
    while (std::getline(ss, line)) p.push_back(std::stod(line.substr(line.rfind(',') + 1)));
    return p;
  }
  void expect_same_model(const std::string& a, const std::string& b, double tol) const {
    const auto pa = predictions(a), pb = predictions(b);
    ASSERT_EQ(pa.size(), pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_NEAR(pa[i], pb[i], tol) << i;
    const auto ma = read_jsonl(a + "/metrics.jsonl"), mb = read_jsonl(b + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), mb.size());
    for (std::size_t e = 0; e < ma.size(); ++e)
      EXPECT_NEAR(ma[e]["train_loss"].get<double>(), mb[e]["train_loss"].get<double>(), tol) << "epoch " << e + 1;
  }
};

TEST_F(Mpi, TwoRanksTrainTheModelOneProcessTrainsAtTheSameGlobalBatch) {
  // Dropout included: a sample's mask depends on its place in the whole batch, not the rank.
  const std::string recipe = "train --data moons --layers 16:relu:dropout=0.3,16:relu --optimizer adam --lr 0.01 "
                             "--schedule none --epochs 4 --batch-size 32 --no-report --threads 1 ";
  ASSERT_EQ(run(recipe + "--out " + path("one")).code, 0);
  const Result two = run_in_shell(mpirun(2, recipe + "--out " + path("two")));
  ASSERT_EQ(two.code, 0) << two.err << two.out;
  expect_same_model(path("one"), path("two"), 1e-5);
  // Rank 0 alone prints and writes: one summary, one record per epoch, the usual files.
  EXPECT_EQ(count(two.out, "test accuracy"), 1u) << two.out;
  EXPECT_NE(two.out.find("ranks:  2 processes (MPI)"), std::string::npos) << two.out;
  EXPECT_EQ(read_jsonl(path("two") + "/metrics.jsonl").size(), 4u);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(path("two"))) files += e.path().filename().string()[0] != '.';
  EXPECT_EQ(files, 7u);  // config, metrics, diagnostics, model, checkpoint_last, confusion, status
  // Three ranks split batches unevenly; the result is still the one-process model.
  ASSERT_EQ(run_in_shell(mpirun(3, recipe + "--out " + path("three"))).code, 0);
  expect_same_model(path("one"), path("three"), 1e-5);
}

TEST_F(Mpi, SyncBatchNormMatchesOneProcessAndPerRankBatchNormRuns) {
  const std::string recipe = "train --data moons --layers 16:relu:bn,16:relu:bn --optimizer sgd --lr 0.1 "
                             "--schedule none --epochs 4 --batch-size 32 --no-report --threads 1 ";
  ASSERT_EQ(run(recipe + "--out " + path("one")).code, 0);
  const Result sync = run_in_shell(mpirun(2, recipe + "--sync-batchnorm --out " + path("sync")));
  ASSERT_EQ(sync.code, 0) << sync.err;
  expect_same_model(path("one"), path("sync"), 1e-5);
  // Per rank (the default, as torch DDP): each rank normalizes its own half — another model.
  const Result own = run_in_shell(mpirun(2, recipe + "--out " + path("own")));
  ASSERT_EQ(own.code, 0) << own.err;
  const auto a = predictions(path("one")), b = predictions(path("own"));
  double diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(a[i] - b[i]));
  EXPECT_GT(diff, 1e-6);
  // Slices of one sample cannot be normalized per rank: said before anything runs.
  const Result tiny = run_in_shell(mpirun(2, "train --data xor --layers 4:relu:bn --batch-size 2 --epochs 1 --out " +
                                                 path("tiny")));
  EXPECT_NE(tiny.code, 0);
  EXPECT_NE(tiny.err.find("per-rank BatchNorm needs 2 or more (use --sync-batchnorm"), std::string::npos) << tiny.err;
}

TEST_F(Mpi, AKilledRankStopsTheJobAndTheRunResumesWithAnyNumberOfRanks) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_FAIL() << "dataset-fashion-mnist is not installed (scripts/test.sh installs it)";
  const std::string recipe = "train --data fashion-mnist --limit 8000 --layers 64:relu --optimizer adam --lr 1e-3 "
                             "--schedule none --batch-size 64 --save-every 1 --no-report --threads 1 ";
  // Uninterrupted: with 2 ranks (the same sums as a resumed 2-rank run: bit-identical) and with 1.
  ASSERT_EQ(run_in_shell(mpirun(2, recipe + "--epochs 6 --out " + path("whole2"))).code, 0);
  ASSERT_EQ(run(recipe + "--epochs 6 --out " + path("whole1")).code, 0);
  for (int resume_ranks : {2, 1}) {
    const std::string part = path("part" + std::to_string(resume_ranks));
    const pid_t job = fork();
    if (job == 0) {
      const std::string cmd = "exec " + mpirun(2, recipe + "--epochs 400 --out " + part) + " > " + path("log") + " 2>&1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 60000 && read_jsonl_lines(part + "/metrics.jsonl") < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // Rank 1: the gradflow process that is not rank 0 (the newest of the job's two).
    const Result pids = run_in_shell("pgrep -f -- '--out " + part + "$' | tail -1");
    ASSERT_FALSE(pids.out.empty());
    const auto t0 = std::chrono::steady_clock::now();
    kill(std::stoi(pids.out), SIGKILL);
    const int code = wait_for(job);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_NE(code, 0);
    EXPECT_LT(secs, 30) << "the job did not stop after a rank died";
    // The last checkpoint is whole; --resume continues (with --epochs 6, to compare with "whole").
    const std::string resume = "train --resume " + part + " --epochs 6 --threads 1";
    const Result r = resume_ranks == 1 ? run(resume) : run_in_shell(mpirun(2, resume));
    ASSERT_EQ(r.code, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("(resuming after epoch"), std::string::npos) << r.out;
    ASSERT_EQ(read_jsonl(part + "/metrics.jsonl").size(), 6u);
    if (resume_ranks == 2) {
      EXPECT_EQ(slurp(path("whole2") + "/model.safetensors"), slurp(part + "/model.safetensors"));
    } else {
      // Two epochs summed over 2 ranks, four in one process: float tolerance, grown over 750
      // Adam steps (measured: 4e-4 in the test loss).
      const auto a = read_jsonl(path("whole1") + "/metrics.jsonl"), b = read_jsonl(part + "/metrics.jsonl");
      EXPECT_NEAR(a.back()["test_loss"].get<double>(), b.back()["test_loss"].get<double>(), 5e-3);
    }
  }
}

}  // namespace
}  // namespace gradflow_cli_test
