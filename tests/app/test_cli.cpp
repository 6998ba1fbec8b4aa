// End-to-end tests of the gradflow command-line tool: train, eval and predict on real and
// synthetic data, config files, and one test for each kind of bad input.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_helpers.h"

using namespace gradflow_cli_test;

namespace {

TEST_F(Cli, TrainXorThenEvalAndPredict) {
  const std::string out = path("run");
  Result t = run("train" + kPlain + "--data xor --layers 4:tanh --lr 0.5 --epochs 400 --batch-size 4 --seed 1 --out " + out);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("test accuracy 100.00%"), std::string::npos) << t.out;
  ASSERT_TRUE(fs::exists(out + "/config.json"));
  ASSERT_TRUE(fs::exists(out + "/model.safetensors"));
  const auto metrics = read_jsonl(out + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 400u);
  for (const char* key : {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"})
    EXPECT_TRUE(metrics.back().contains(key)) << key;
  EXPECT_EQ(metrics.back()["test_acc"], 1.0);
  const auto cfg = nlohmann::json::parse(std::ifstream(out + "/config.json"));
  EXPECT_EQ(cfg["layers"], "4:tanh");
  EXPECT_EQ(cfg["loss"], "auto");  // as written; the model file names the loss it resolved to

  Result e = run("eval --model " + out + " --data xor");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("accuracy 100.00%"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("confusion matrix"), std::string::npos);

  const std::string in = write("x.csv", "x1,x2\n0,0\n0,1\n1,0\n1,1\n");
  Result p = run("predict --model " + out + "/model.safetensors --input " + in);
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out.substr(0, p.out.find('\n')), "index,class,p0,p1");
  std::vector<std::string> lines;
  std::stringstream ss(p.out);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[1].substr(0, 4), "0,0,");
  EXPECT_EQ(lines[2].substr(0, 4), "1,1,");
  EXPECT_EQ(lines[3].substr(0, 4), "2,1,");
  EXPECT_EQ(lines[4].substr(0, 4), "3,0,");
  Result pj = run("predict --model " + out + " --input " + in + " --format json");
  ASSERT_EQ(pj.code, 0) << pj.err;
  const auto first = nlohmann::json::parse(pj.out.substr(0, pj.out.find('\n')));
  EXPECT_EQ(first["class"], 0);
  EXPECT_EQ(first["probabilities"].size(), 2u);
}

TEST_F(Cli, FashionMnistSubsetThenEvalAndPredict) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_FAIL() << "Debian's dataset-fashion-mnist is not installed (scripts/test.sh installs it)";
  const std::string out = path("run");
  Result t = run("train --limit 3000 --test-limit 1000 --epochs 3 --layers 64:relu --out " + out);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("fashion-mnist"), std::string::npos);
  const auto metrics = read_jsonl(out + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  EXPECT_GT(metrics.back()["test_acc"].get<double>(), 0.70);

  Result e = run("eval --model " + out + " --data fashion-mnist");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("10000 samples"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("Ankle boot"), std::string::npos) << e.out;  // class names travel with the model

  const std::string images = write("five.idx", idx_images(5, 28, 28));
  Result p = run("predict --model " + out + " --input " + images + " --format json");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(std::count(p.out.begin(), p.out.end(), '\n'), 5);
  EXPECT_NE(p.out.find("\"label\":"), std::string::npos);
}

TEST_F(Cli, IdxPairsAndCsvWithHeaderAndValSplit) {
  const std::string imgs = write("i.idx", idx_images(30, 2, 2)), labels = write("l.idx", idx_labels(30));
  Result a = run("train --data " + imgs + "," + labels + " --epochs 2 --layers 8:relu --out " + path("a"));
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("no test set"), std::string::npos) << a.out;

  std::string csv = "f1,f2,species\n";
  for (int i = 0; i < 60; ++i) csv += std::to_string(i % 2 ? 1.0 + i * 0.01 : -1.0 - i * 0.01) + ",0.5," + std::to_string(i % 2) + "\n";
  const std::string file = write("d.csv", csv);
  Result b = run("train" + kPlain + "--data " + file + " --label-column species --test-split 0.25 --standardize --epochs 30 "
                 "--layers 4:tanh --lr 0.1 --out " + path("b"));
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("45 training samples, 15 test samples"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("test accuracy 100.00%"), std::string::npos) << b.out;
  // The standardization travels with the model: eval on the raw file uses it.
  Result e = run("eval --model " + path("b") + " --data " + file + " --label-column species");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("accuracy 100.00%"), std::string::npos) << e.out;
}

TEST_F(Cli, SineRegressionUsesMse) {
  Result r = run("train" + kPlain + "--data sine --layers 32:tanh --epochs 50 --batch-size 16 --lr 0.1 --out " + path("s"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("loss mse"), std::string::npos) << r.out;
  const auto metrics = read_jsonl(path("s") + "/metrics.jsonl");
  EXPECT_TRUE(metrics.back()["test_acc"].is_null());
  EXPECT_LT(metrics.back()["test_loss"].get<double>(), 0.05);
}

TEST_F(Cli, ConfigFileWithFlagsOverriding) {
  const std::string cfg = write("c.json", R"({"data": "moons", "epochs": 5, "layers": "8:elu", "lr": 0.2, "optimizer": "sgd"})");
  Result r = run("train --config " + cfg + " --epochs 2 --out " + path("r"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto saved = nlohmann::json::parse(std::ifstream(path("r") + "/config.json"));
  EXPECT_EQ(saved["epochs"], 2);      // the flag wins
  EXPECT_EQ(saved["layers"], "8:elu");  // the file's value
  EXPECT_EQ(saved["lr"], 0.2);
  EXPECT_EQ(read_jsonl(path("r") + "/metrics.jsonl").size(), 2u);
  const std::string bad = write("bad.json", R"({"epoch": 5})");
  expect_clean_error(run("train --config " + bad + " --out " + path("x")), "unknown key 'epoch'", path("x"));
}

TEST_F(Cli, ARunsConfigReproducesItInANewFolder) {
  ASSERT_EQ(run("train --data moons --layers 8:relu --epochs 3 --no-report --out " + path("r")).code, 0);
  const auto saved = nlohmann::json::parse(std::ifstream(path("r") + "/config.json"));
  EXPECT_FALSE(saved.contains("out"));  // where a run is is not part of what it is
  EXPECT_FALSE(saved.contains("resume"));
  const Result again = run("train --config " + path("r") + "/config.json --out " + path("r2"));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(slurp(path("r") + "/model.safetensors"), slurp(path("r2") + "/model.safetensors"));
}

TEST_F(Cli, BatchNormAndDropoutFromFlagsAndTheLayerList) {
  Result a = run("train" + kPlain + "--data moons --layers bn,16:relu:bn:dropout=0.1,8:tanh --epochs 2 --out " + path("a"));
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("model:  2(bn)-16(bn)(relu)(dropout 0.1)-8(tanh)-2(softmax)"), std::string::npos) << a.out;
  Result b = run("train --optimizer sgd --data moons --layers 8:relu,8:tanh --batchnorm --dropout 0.2 --epochs 2 --out " + path("b"));
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("2-8(bn)(relu)(dropout 0.2)-8(bn)(tanh)(dropout 0.2)-2(softmax)"), std::string::npos) << b.out;
  // The model file is an nn.Sequential: BatchNorm1d with its buffers, Dropout as a module.
  std::ifstream f(path("b") + "/model.safetensors", std::ios::binary);
  std::uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, ' ');
  f.read(header.data(), static_cast<std::streamsize>(n));
  const auto h = nlohmann::json::parse(header);
  EXPECT_EQ(h["1.running_var"]["shape"], nlohmann::json({8}));
  EXPECT_EQ(h["1.num_batches_tracked"]["dtype"], "I64");
  const auto arch = nlohmann::json::parse(h["__metadata__"]["gradflow.architecture"].get<std::string>());
  EXPECT_EQ(arch[1]["type"], "BatchNorm1d");
  EXPECT_EQ(arch[3]["type"], "Dropout");
  // Evaluation and prediction run in evaluation mode: repeated predictions agree.
  const std::string in = write("p.csv", "0.5,0.2\n-1,0.3\n");
  Result p1 = run("predict --model " + path("b") + " --input " + in), p2 = run("predict --model " + path("b") + " --input " + in);
  ASSERT_EQ(p1.code, 0) << p1.err;
  EXPECT_EQ(p1.out, p2.out);
  EXPECT_EQ(run("eval --model " + path("b") + " --data moons").code, 0);
  // 4 samples at batch 3 leave one sample, which BatchNorm cannot normalize: it joins the batch
  // before (said once), or --drop-last drops it.
  const Result folded = run("train --data xor --batchnorm --batch-size 3 --epochs 2 --no-report --out " + path("c"));
  ASSERT_EQ(folded.code, 0) << folded.err;
  EXPECT_NE(folded.out.find("the last batch of 1 sample joins the batch before it"), std::string::npos) << folded.out;
  const Result dropped = run("train --data xor --batchnorm --batch-size 3 --epochs 2 --drop-last --no-report --out " +
                             path("d"));
  ASSERT_EQ(dropped.code, 0) << dropped.err;
  EXPECT_EQ(dropped.out.find("joins the batch before"), std::string::npos) << dropped.out;
  expect_clean_error(run("train --data xor --batch-size 8 --drop-last --out " + path("e")), "no full batch of 8",
                     path("e"));
  expect_clean_error(run("train --data xor --layers 4:relu:dropout=1.5 --out " + path("f")),
                     "dropout rate must be in [0, 1)", path("f"));
}

TEST_F(Cli, OptimizersSchedulesClippingAndEarlyStopping) {
  for (const char* opt : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}) {
    const std::string out = path(opt);
    Result r = run(std::string("train --data moons --layers 16:relu --epochs 2 --lr 0.01 --optimizer ") + opt +
                   " --weight-decay 1e-4 --clip-norm 1 --clip-value 0.5 --out " + out);
    ASSERT_EQ(r.code, 0) << opt << ": " << r.err;
    EXPECT_NE(r.out.find(std::string("recipe: ") + opt + " lr"), std::string::npos) << r.out;
  }
  // The cosine schedule with warm-up, epoch by epoch in metrics.jsonl.
  Result c = run("train --no-batchnorm --data moons --layers 8:relu --epochs 6 --optimizer adam --lr 0.01 --schedule cosine "
                 "--warmup 2 --out " + path("c"));
  ASSERT_EQ(c.code, 0) << c.err;
  const auto m = read_jsonl(path("c") + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 6u);
  const double want[] = {0.01 / 3, 0.01 * 2 / 3, 0.01, 0.01 * (1 + std::cos(M_PI / 4)) / 2, 0.005,
                         0.01 * (1 + std::cos(3 * M_PI / 4)) / 2};
  for (std::size_t e = 0; e < 6; ++e) EXPECT_NEAR(m[e]["lr"].get<double>(), want[e], 1e-12) << e;

  // Early stopping keeps the best epoch's model: evaluating the saved model gives its loss.
  Result s = run("train --no-batchnorm --dropout 0 --schedule none --data moons --limit 40 --layers 128:relu,128:relu --optimizer adam --lr 0.01 --batch-size 8 "
                 "--epochs 300 --early-stop 4 --out " + path("s"));
  ASSERT_EQ(s.code, 0) << s.err;
  // It selects on a validation set it holds out itself, and says so; the test set is only reported.
  EXPECT_NE(s.out.find("--early-stop selects on a validation set: holding out 10%"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("36 training samples, 4 validation samples"), std::string::npos) << s.out;
  ASSERT_NE(s.out.find("early stopping: no better validation loss for 4 epochs; keeping epoch"), std::string::npos) << s.out;
  const auto sm = read_jsonl(path("s") + "/metrics.jsonl");
  EXPECT_LT(sm.size(), 300u);
  double best = 1e9, test_at_best = 0;
  for (const auto& row : sm)
    if (row["val_loss"].get<double>() < best) best = row["val_loss"], test_at_best = row["test_loss"];
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(path("s") + "/config.json"))["val_split"], 0.1);
  Result e = run("eval --model " + path("s") + " --data moons");
  ASSERT_EQ(e.code, 0) << e.err;
  const double loss = std::stod(e.out.substr(e.out.find("loss ") + 5));
  EXPECT_NEAR(loss, test_at_best, 1e-5) << e.out;

  expect_clean_error(run("train --data xor --schedule linear --out " + path("x")), "unknown schedule 'linear'", path("x"));
  expect_clean_error(run("train --data xor --schedule step --out " + path("x")), "schedule 'step' needs an argument: step:STEP_SIZE[:GAMMA]",
                     path("x"));
  expect_clean_error(run("train --data xor --optimizer lion --out " + path("x")), "unknown optimizer 'lion'", path("x"));
  expect_clean_error(run("train --data xor --optimizer adam --beta1 1.5 --out " + path("x")), "optimizer adam: beta1 must be in [0, 1), got 1.5",
                     path("x"));
}

TEST_F(Cli, AnExplodingRunStopsWithOneClearMessage) {
  // The rate grows a thousandfold an epoch: the first epoch ends, the second diverges.
  const Result r = run("train --optimizer sgd --schedule exponential:1000 --lr 0.01 --data spirals --layers "
                       "64:relu,64:relu,64:relu --init normal --epochs 6 --out " + path("d"));
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("training diverged at step"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lower the learning rate (now 10), clip the gradients or add batch normalization. The last "
                       "good epoch's model is kept in"),
            std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(path("d") + "/config.json"));  // the run folder stays, with what it has
  // ... and is still a run: its page is written, and report and compare read it.
  EXPECT_TRUE(fs::exists(path("d") + "/report.html"));
  EXPECT_EQ(run("report " + path("d")).code, 0);
  ASSERT_EQ(run("train" + kPlain + "--data spirals --layers 8:relu --epochs 2 --no-report --out " + path("ok")).code, 0);
  EXPECT_EQ(run("compare " + path("d") + " " + path("ok") + " --out " + path("cmp.html")).code, 0);
}

TEST_F(Cli, ResumedTrainingEndsWithTheSameWeights) {
  // BatchNorm, dropout (model RNG), Adam state, shuffling RNG and the schedule all carry over.
  const std::string recipe =
      " --data moons --layers 32:relu,16:relu --dropout 0.2 --schedule cosine:5 --seed 3 --val-split 0.2 --save-every 1 ";
  ASSERT_EQ(run("train" + recipe + "--epochs 5 --out " + path("whole")).code, 0);
  ASSERT_EQ(run("train" + recipe + "--epochs 2 --out " + path("parts")).code, 0);
  for (const char* f : {"checkpoint_last.safetensors", "checkpoint_best.safetensors", "model.safetensors"})
    EXPECT_TRUE(fs::exists(path("parts") + "/" + f)) << f;
  const Result r = run("train --resume " + path("parts") + " --epochs 5");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("(resuming after epoch 2)"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(path("whole") + "/model.safetensors"), slurp(path("parts") + "/model.safetensors"));
  EXPECT_EQ(read_jsonl(path("parts") + "/metrics.jsonl").size(), 5u);
  const Result again = run("train --resume " + path("parts"));
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("has finished its 5 epochs"), std::string::npos) << again.err;
  EXPECT_NE(run("train --resume " + path("nothing")).code, 0);
}

TEST_F(Cli, TransferLearningFromClothingToShoesAndBags) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_FAIL() << "Debian's dataset-fashion-mnist is not installed (scripts/test.sh installs it)";
  // The lecture's story: pretrain on the six clothing classes, then learn Sandal, Sneaker, Bag
  // and Ankle boot from 50 labelled images each, reusing the lower layers (frozen, then
  // unfrozen from the top down) versus the same network trained from scratch.
  const std::string plain = " --layers 512:relu,256:relu --batch-size 16 ";
  ASSERT_EQ(run("train --layers 512:relu,256:relu --classes 0,1,2,3,4,6 --limit 12000 --epochs 5 --out " + path("pre")).code, 0);
  const Result reuse = run("train" + plain + "--classes 5,7,8,9 --per-class 50 --epochs 20 --init-from " + path("pre") +
                           " --freeze 2 --unfreeze-every 5 --out " + path("reuse"));
  const Result scratch = run("train" + plain + "--classes 5,7,8,9 --per-class 50 --epochs 20 --out " + path("scratch"));
  ASSERT_EQ(reuse.code, 0) << reuse.err;
  ASSERT_EQ(scratch.code, 0) << scratch.err;
  EXPECT_NE(reuse.out.find("200 training samples, 4000 test samples"), std::string::npos) << reuse.out;
  EXPECT_NE(reuse.out.find("reuse:  layers 0..3 from"), std::string::npos) << reuse.out;
  const double a = read_jsonl(path("reuse") + "/metrics.jsonl").back()["test_acc"];
  const double b = read_jsonl(path("scratch") + "/metrics.jsonl").back()["test_acc"];
  std::printf("  reused lower layers: %.2f%%, from scratch: %.2f%%\n", 100 * a, 100 * b);
  EXPECT_GT(a, b);
  expect_clean_error(run("train --data moons --init-from " + path("pre") + " --out " + path("x")),
                     "the model takes 784 features, the data has 2", path("x"));
  expect_clean_error(run("train --data xor --freeze 3 --layers 4:relu --out " + path("x")), "cannot freeze 3 blocks",
                     path("x"));
  expect_clean_error(run("train --data xor --classes 0,7 --out " + path("x")), "'7' is not a class", path("x"));
}

TEST_F(Cli, ModelsMoveToPyTorchAndBack) {
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0)
    GTEST_FAIL() << "python3-torch is not installed (only this interchange test needs it) (scripts/test.sh installs it)";
  ASSERT_EQ(run("train --data moons --layers 16:prelu:bn,8:elu --dropout 0.1 --epochs 3 --out " + path("m")).code, 0);
  const std::string bridge = GRADFLOW_SOURCE_DIR "/tools/torch_bridge.py";
  const std::string py = "/usr/bin/python3 " + bridge;
  ASSERT_EQ(std::system((py + " to-torch " + path("m") + "/model.safetensors " + path("m.pt")).c_str()), 0);
  ASSERT_EQ(std::system((py + " from-torch " + path("m.pt") + " " + path("back.safetensors")).c_str()), 0);
  // A bare state_dict comes back with the architecture of a gradflow model.
  const std::string sd = write("sd.py", "import sys, torch\ntorch.save(torch.load(sys.argv[1]).state_dict(), sys.argv[2])\n");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + sd + " " + path("m.pt") + " " + path("sd.pt")).c_str()), 0);
  ASSERT_EQ(std::system((py + " from-torch " + path("sd.pt") + " " + path("sd.safetensors") + " --like " + path("m") +
                         "/model.safetensors").c_str()), 0);
  const std::string in = write("p.csv", "0.5,0.2\n-1,0.3\n2,-0.5\n");
  const Result a = run("predict --model " + path("m") + " --input " + in);
  const Result b = run("predict --model " + path("back.safetensors") + " --input " + in);
  const Result c = run("predict --model " + path("sd.safetensors") + " --input " + in);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(a.out, b.out);  // the same weights, through torch and back
  EXPECT_EQ(a.out, c.out);
  // torch's own predictions agree with gradflow's.
  const std::string script = write("t.py", "import sys, torch\nsys.path.insert(0, '" GRADFLOW_SOURCE_DIR "/tools')\n"
                                           "from torch_bridge import load_sequential\n"
                                           "m, _ = load_sequential(sys.argv[1])\n"
                                           "x = torch.tensor([[0.5, 0.2], [-1, 0.3], [2, -0.5]])\n"
                                           "print(' '.join('%.5f' % v for v in m(x)[:, 1].tolist()))\n");
  FILE* p = popen(("/usr/bin/python3 " + script + " " + path("m") + "/model.safetensors").c_str(), "r");
  char buf[256] = {};
  ASSERT_NE(fgets(buf, sizeof buf, p), nullptr);
  pclose(p);
  std::stringstream torch_out(buf), ours(a.out);
  std::string line;
  std::getline(ours, line);  // header
  for (int i = 0; i < 3; ++i) {
    double t;
    torch_out >> t;
    std::getline(ours, line);
    const double g = std::stod(line.substr(line.rfind(',') + 1));
    EXPECT_NEAR(g, t, 1e-5) << "sample " << i;
  }
}


TEST_F(Cli, WarningsAreCalledOutAndRecorded) {
  // The lecture's failing deep net: 20 sigmoid layers with N(0, 1) weights.
  std::string layers = "256:sigmoid";
  for (int i = 1; i < 20; ++i) layers += ",256:sigmoid";
  const Result r = run("train --data moons --optimizer sgd --no-batchnorm --dropout 0 --lr 0.1 --init normal --layers " +
                       layers + " --epochs 2 --diagnostics-every 5 --no-report --out " + path("s"));
  ASSERT_EQ(r.code, 0) << r.err;
  // One line for the 19 saturated layers (the first sees the 2-D inputs), not one each.
  EXPECT_NE(r.out.find("warning: layers 3, 5, …, 39 (sigmoid): "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("N(0,1) initial weights are too large"), std::string::npos) << r.out;
  const std::size_t saturated = r.out.find("of outputs saturated");
  EXPECT_NE(saturated, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("of outputs saturated", saturated + 1), std::string::npos) << r.out;
  // With Glorot's initialization the same depth does not saturate, but σ' ≤ 1/4 per layer
  // shrinks the gradient on its way down.
  std::string narrow = "32:sigmoid";
  for (int i = 1; i < 20; ++i) narrow += ",32:sigmoid";
  const Result v = run("train --data moons --optimizer sgd --no-batchnorm --dropout 0 --lr 0.1 --init glorot_uniform "
                       "--layers " + narrow + " --epochs 2 --diagnostics-every 5 --no-report --out " + path("v"));
  ASSERT_EQ(v.code, 0) << v.err;
  EXPECT_NE(v.out.find("warning: vanishing gradients: layer 0 (Dense(2→32))"), std::string::npos) << v.out;
  const auto m = read_jsonl(path("s") + "/metrics.jsonl");
  ASSERT_TRUE(m[0].contains("warnings"));
  EXPECT_NE(m[0]["warnings"].dump().find("saturated"), std::string::npos);
  const auto d = read_jsonl(path("s") + "/diagnostics.jsonl");
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[0]["step"], 5);
  EXPECT_TRUE(d[0]["layers"][3].contains("saturated"));
  EXPECT_FALSE(fs::exists(path("s") + "/report.html"));

  const Result healthy = run("train --data moons --layers 32:relu,32:relu --epochs 5 --diagnostics-every 5 --out " +
                             path("h"));
  ASSERT_EQ(healthy.code, 0) << healthy.err;
  EXPECT_EQ(healthy.out.find("warning:"), std::string::npos) << healthy.out;
}

TEST_F(Cli, ReportAndCompareOpenInHeadlessChromiumWithChartsDrawn) {
  const std::string base = " --data spirals --optimizer sgd --no-batchnorm --dropout 0 --lr 0.1 --epochs 4 "
                           "--layers 32:relu,32:relu,32:relu --diagnostics-every 5 ";
  ASSERT_EQ(run("train" + base + "--init normal --out " + path("normal")).code, 0);
  ASSERT_EQ(run("train" + base + "--init he_normal --out " + path("he")).code, 0);
  ASSERT_EQ(run("train --data moons --layers 16:tanh:bn --epochs 3 --diagnostics-every 5 --no-report --out " +
                path("bn")).code, 0);
  ASSERT_TRUE(fs::exists(path("normal") + "/report.html"));  // written by train
  const Result r = run("report " + path("bn"));
  ASSERT_EQ(r.code, 0) << r.err;
  const Result c = run("compare " + path("normal") + " " + path("he") + " --out " + path("compare.html"));
  ASSERT_EQ(c.code, 0) << c.err;
  const std::string html = slurp(path("bn") + "/report.html");
  for (const char* external : {"src=\"http", "href=\"http", "src=\"//", "href=\"//", "import("})
    EXPECT_EQ(html.find(external), std::string::npos) << external;  // self-contained: nothing to fetch
  EXPECT_NE(html.find("Confusion matrix"), std::string::npos);
  expect_clean_error(run("report " + path("nothing-here")), "is not a run folder", path("x"));

  const std::string dom = render(path("bn") + "/report.html", dir / "profile");
  if (dom.empty()) GTEST_FAIL() << "Debian's chromium is not installed: the pages were written but not rendered (scripts/test.sh installs it)";
  EXPECT_EQ(dom.find("data-errors=\""), std::string::npos) << "JavaScript errors in the report";
  EXPECT_NE(dom.find("data-charts=\"15\""), std::string::npos) << dom.substr(0, 400);
  EXPECT_GE(count(dom, "<canvas"), 15u);  // uPlot drew every chart
  EXPECT_NE(dom.find("Time per epoch"), std::string::npos);
  const std::string cdom = render(path("compare.html"), dir / "profile2");
  EXPECT_EQ(cdom.find("data-errors=\""), std::string::npos);
  EXPECT_NE(cdom.find("data-charts=\"6\""), std::string::npos) << cdom.substr(0, 400);
  EXPECT_GE(count(cdom, "<canvas"), 6u);
  EXPECT_NE(cdom.find("normal train"), std::string::npos);  // both runs on the same plots
  EXPECT_NE(cdom.find("he train"), std::string::npos);
}

TEST_F(Cli, SameSeedAndThreadsGiveTheSameModelBitForBit) {
  const std::string recipe = " --data spirals --layers 32:rrelu,32:relu --dropout 0.1 --epochs 3 --threads 2 ";
  ASSERT_EQ(run("train" + recipe + "--seed 5 --out " + path("a")).code, 0);
  ASSERT_EQ(run("train" + recipe + "--seed 5 --out " + path("b")).code, 0);
  ASSERT_EQ(run("train" + recipe + "--seed 6 --out " + path("c")).code, 0);
  EXPECT_EQ(slurp(path("a") + "/model.safetensors"), slurp(path("b") + "/model.safetensors"));
  EXPECT_NE(slurp(path("a") + "/model.safetensors"), slurp(path("c") + "/model.safetensors"));
}

// oneDNN (where the build has it) and OpenBLAS round products differently, so the two give
// different bits — but the same training up to float rounding. GRADFLOW_SGEMM chooses.
TEST_F(Cli, EitherSgemmLibraryTrainsTheSameModelUpToRounding) {
  const auto with = [](const std::string& library, const std::string& args) {
    return run_in_shell("GRADFLOW_SGEMM=" + library + " " + GRADFLOW_CLI + " " + args);
  };
  EXPECT_NE(with("openblas", "--version").out.find("sgemm: OpenBLAS "), std::string::npos);
  expect_clean_error(with("mkl", "train --data xor --out " + path("x")), "GRADFLOW_SGEMM=mkl: expected onednn or openblas",
                     path("x"));
  const Result onednn = with("onednn", "--version");
  if (onednn.code != 0) {  // a build without libdnnl-dev says so
    EXPECT_NE(onednn.err.find("no oneDNN"), std::string::npos) << onednn.err;
    GTEST_FAIL() << "this build has no oneDNN (scripts/test.sh installs it)";
  }
  EXPECT_NE(onednn.out.find("sgemm: oneDNN "), std::string::npos) << onednn.out;
  const std::string recipe = " --data spirals --layers 64:relu,64:tanh --epochs 3 --seed 3 --no-report --out ";
  ASSERT_EQ(with("openblas", "train" + recipe + path("a")).code, 0);
  ASSERT_EQ(with("onednn", "train" + recipe + path("b")).code, 0);
  const auto last_loss = [&](const std::string& run) {
    std::istringstream metrics(slurp(path(run) + "/metrics.jsonl"));
    double loss = 0;
    for (std::string line; std::getline(metrics, line);) loss = nlohmann::json::parse(line).at("train_loss");
    return loss;
  };
  EXPECT_GT(last_loss("a"), 0);
  EXPECT_NEAR(last_loss("a"), last_loss("b"), 1e-4 * last_loss("a"));
  // With AVX-512, libxsmm runs the forward of these batches of 32 transposed, unless
  // GRADFLOW_XSMM=0: again the same training up to rounding (elsewhere, the same bits).
  const auto xsmm = [&](const std::string& v, const std::string& args) {
    return run_in_shell("GRADFLOW_XSMM=" + v + " " + GRADFLOW_CLI + " " + args);
  };
  expect_clean_error(xsmm("yes", "train --data xor --out " + path("y")), "GRADFLOW_XSMM=yes: expected 0 (off) or 1",
                     path("y"));
  ASSERT_EQ(xsmm("1", "train --batch-size 32" + recipe + path("c")).code, 0);
  ASSERT_EQ(xsmm("0", "train --batch-size 32" + recipe + path("d")).code, 0);
  EXPECT_NEAR(last_loss("c"), last_loss("d"), 1e-4 * last_loss("c"));
}

// Every environment variable is read once at start-up, with one policy: a bad value is one
// error line naming the variable and what it accepts, for every command; --version says what
// was chosen.
TEST_F(Cli, EnvironmentIsCheckedAtStartUp) {
  const auto with = [&](const std::string& env, const std::string& args) {
    return run_in_shell(env + " " + GRADFLOW_CLI + " " + args);
  };
  const Result three = with("GRADFLOW_NUM_THREADS=3", "--version");
  ASSERT_EQ(three.code, 0) << three.err;
  EXPECT_NE(three.out.find("3 compute thread(s) from GRADFLOW_NUM_THREADS"), std::string::npos) << three.out;
  for (const char* bad : {"GRADFLOW_NUM_THREADS=many", "GRADFLOW_NUM_THREADS=0", "GRADFLOW_SGEMM=mkl",
                          "GRADFLOW_XSMM=yes"}) {
    for (const char* args : {"--version", "eval --model x", "train --data xor --out x"}) {
      const Result r = with(bad, args);
      EXPECT_EQ(r.code, 2) << bad << " " << args;
      EXPECT_EQ(r.err.rfind(std::string("gradflow: error: ") + bad + ": expected ", 0), 0u) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }
  EXPECT_FALSE(fs::exists("x"));
}

TEST_F(Cli, TestNoneKeepsTheTestSetUnseen) {
  // Choosing a recipe on a validation split: the data set's own test split is not even loaded.
  const Result r = run("train --data spirals --test none --val-split 0.2 --epochs 2 --no-report --out " + path("a"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("no test set"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("test acc"), std::string::npos) << r.out;
  std::istringstream metrics(slurp(path("a") + "/metrics.jsonl"));
  int rows = 0;
  for (std::string line; std::getline(metrics, line); ++rows) {
    const auto row = nlohmann::json::parse(line);
    EXPECT_TRUE(row.at("test_acc").is_null());
    EXPECT_FALSE(row.at("val_acc").is_null());
  }
  EXPECT_EQ(rows, 2);
  EXPECT_FALSE(std::filesystem::exists(path("a") + "/confusion.json"));
  expect_clean_error(run("train --data xor --test none --test-split 0.2 --out " + path("b")), "--test none", path("b"));
}

TEST_F(Cli, HelpListsEveryOptionWithItsDefault) {
  Result r = run("train --help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"--layers", "512:relu:bn:dropout=0.1,256:relu:bn:dropout=0.1", "--lr", "0.004", "--optimizer", "adam", "--schedule", "cosine", "--batch-size", "128", "--epochs", "--seed",
                        "--threads", "--init", "--loss", "--output", "--standardize", "--val-split", "--out"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  EXPECT_EQ(run("--help").code, 0);
  EXPECT_EQ(run("eval --help").code, 0);
  EXPECT_NE(run("predict --help").out.find("--format"), std::string::npos);
}

// ---- bad input: one clear line, non-zero exit, nothing written ----

TEST_F(Cli, MissingFile) {
  expect_clean_error(run("train --data " + path("nope.csv") + " --out " + path("o")), "nope.csv", path("o"));
  expect_clean_error(run("eval --model " + path("nope.safetensors")), "nope.safetensors", path("o"));
}

TEST_F(Cli, TruncatedIdx) {
  const std::string imgs = write("t.idx", idx_images(10, 28, 28, 0x803, 100)), labels = write("l.idx", idx_labels(10));
  const Result r = run("train --data " + imgs + "," + labels + " --out " + path("o"));
  expect_clean_error(r, "truncated at byte 7756", path("o"));
  EXPECT_NE(r.err.find("t.idx"), std::string::npos);
}

TEST_F(Cli, WrongMagicNumber) {
  const std::string imgs = write("m.idx", idx_images(10, 28, 28, 0x801)), labels = write("l.idx", idx_labels(10));
  expect_clean_error(run("train --data " + imgs + "," + labels + " --out " + path("o")),
                     "bad magic number 0x00000801 at byte 0 (expected 0x00000803", path("o"));
}

TEST_F(Cli, ImageAndLabelCountsDiffer) {
  const std::string imgs = write("i.idx", idx_images(10, 4, 4)), labels = write("l.idx", idx_labels(9));
  expect_clean_error(run("train --data " + imgs + "," + labels + " --out " + path("o")), "has 10 images but", path("o"));
}

TEST_F(Cli, CsvRaggedRow) {
  const std::string f = write("r.csv", "a,b,label\n1,2,0\n3,4\n5,6,1\n");
  expect_clean_error(run("train --data " + f + " --out " + path("o")), "r.csv:3: row has 2 fields, expected 3", path("o"));
}

TEST_F(Cli, CsvNonNumericField) {
  const std::string f = write("n.csv", "1,2,0\n3,x4,1\n");
  expect_clean_error(run("train --data " + f + " --out " + path("o")), "n.csv:2: column 2: 'x4' is not a finite number",
                     path("o"));
}

TEST_F(Cli, LabelOutOfRange) {
  const std::string f = write("neg.csv", "1,2,0\n3,4,-1000\n");
  expect_clean_error(run("train --data " + f + " --out " + path("o")), "neg.csv:2: label '-1000' out of range",
                     path("o"));
  const std::string train = write("tr.csv", "1,2,0\n3,4,1\n"), test = write("te.csv", "1,2,0\n3,4,7\n");
  expect_clean_error(run("train --data " + train + " --test " + test + " --out " + path("o")),
                     "label 7 of sample 1 is out of range: the training data has 2 classes", path("o"));
}

TEST_F(Cli, UnknownOptionValues) {
  expect_clean_error(run("train --data xor --layers 8:swish --out " + path("o")), "unknown activation 'swish'", path("o"));
  expect_clean_error(run("train --data xor --loss hinge --out " + path("o")), "unknown loss 'hinge'", path("o"));
  expect_clean_error(run("train --data xor --init zeros --out " + path("o")), "unknown initializer 'zeros'", path("o"));
  expect_clean_error(run("train --data xor --layers 8:relu,x --out " + path("o")), "'x' is not UNITS[:ACTIVATION]", path("o"));
  expect_clean_error(run("train --data xor --optimizer adamax --out " + path("o")), "unknown optimizer 'adamax'", path("o"));
  expect_clean_error(run("train --data iris --out " + path("o")), "data 'iris'", path("o"));
  EXPECT_NE(run("train --epochs many").code, 0);
}

TEST_F(Cli, ExistingRunFolderIsNeverOverwritten) {
  fs::create_directories(path("o"));
  write("o/model.safetensors", "precious");
  const Result r = run("train --data xor --epochs 1 --out " + path("o"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_EQ(std::ifstream(path("o/model.safetensors")).rdbuf() != nullptr, true);
  std::stringstream ss;
  ss << std::ifstream(path("o/model.safetensors")).rdbuf();
  EXPECT_EQ(ss.str(), "precious");
}

TEST_F(Cli, CorruptModelFile) {
  write("bad.safetensors", std::string("\xff\xff\xff\xff\x00\x00\x00\x00{}", 10));
  const Result r = run("eval --model " + path("bad.safetensors") + " --data xor");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("header length"), std::string::npos) << r.err;
}

}  // namespace

namespace gradflow_cli_test {
namespace {

// A config file is a recipe: where a run goes (out) and what it continues (resume) are refused,
// naming the key; a number where the flag takes text means what the flag means; a wrong type is
// one line naming the key.
// --resume RUN --epochs N: the schedule keeps the plan the run was started with (stepped further
// as PyTorch's scheduler would be), and says so; --schedule-epochs N re-plans it as a run
// started with --epochs N. The lr column is the rate each epoch trained with.
TEST_F(Cli, AResumedRunSaysWhatItDoesWithItsSchedule) {
  const std::string recipe = " --data moons --layers 8:relu --lr 0.1 --no-report --save-every 1 ";
  ASSERT_EQ(run("train" + recipe + "--epochs 3 --out " + path("a")).code, 0);
  ASSERT_EQ(run("train" + recipe + "--epochs 3 --out " + path("b")).code, 0);
  ASSERT_EQ(run("train" + recipe + "--epochs 5 --out " + path("fresh")).code, 0);
  const Result kept = run("train --resume " + path("a") + " --epochs 5");
  ASSERT_EQ(kept.code, 0) << kept.err;
  EXPECT_NE(kept.out.find("the cosine schedule keeps its plan over 3 epochs"), std::string::npos) << kept.out;
  const auto lr = [&](const std::string& run, std::size_t epoch) {
    return read_jsonl(path(run) + "/metrics.jsonl").at(epoch - 1)["lr"].get<double>();
  };
  EXPECT_NEAR(lr("a", 4), 0.0, 1e-12);         // cos(π·3/3): the plan's end
  EXPECT_NEAR(lr("a", 5), 0.1 * 0.25, 1e-12);  // cos(π·4/3): stepped further, rising again
  const Result replanned = run("train --resume " + path("b") + " --epochs 5 --schedule-epochs 5");
  ASSERT_EQ(replanned.code, 0) << replanned.err;
  EXPECT_EQ(replanned.out.find("keeps its plan"), std::string::npos) << replanned.out;
  for (std::size_t e : {4u, 5u}) EXPECT_DOUBLE_EQ(lr("b", e), lr("fresh", e)) << e;
}

TEST_F(Cli, AConfigFileIsARecipeAndNothingElse) {
  for (const char* key : {"resume", "out"}) {
    const std::string f = write(std::string(key) + ".json", std::string(R"({"data": "moons", ")") + key + R"(": ")" +
                                                                path("elsewhere") + R"("})");
    expect_clean_error(run("train --config " + f + " --out " + path("x")),
                       std::string("'") + key + "' is not part of a recipe", path("x"));
    EXPECT_FALSE(fs::exists(path("elsewhere")));
  }
  const std::string natural = write("natural.json", R"({"data": "moons", "layers": "8:relu", "epochs": 2,
                                                         "diagnostics_every": 3, "save_every": 1})");
  const Result r = run("train --config " + natural + " --no-report --out " + path("n"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto saved = nlohmann::json::parse(std::ifstream(path("n") + "/config.json"));
  EXPECT_EQ(saved["diagnostics_every"], "3");
  EXPECT_EQ(saved["save_every"], "1");
  const std::string bad = write("bad.json", R"({"optimizer": 1})");
  const Result b = run("train --config " + bad + " --out " + path("b"));
  EXPECT_NE(b.code, 0);
  EXPECT_NE(b.err.find("unknown optimizer '1'"), std::string::npos) << b.err;
  EXPECT_EQ(b.err.find("json.exception"), std::string::npos) << b.err;
}

}  // namespace
}  // namespace gradflow_cli_test
