// What PyTorch, Keras and scikit-learn users expect around training (issue #14): defaults as
// --help shows them, small data that is fast, CSV files as people have them, a validation set
// for every selection, a PyTorch export that computes what predict computes, predict that
// matches columns by name, and reports that explain their empty panels.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "cli_helpers.h"

namespace gradflow_cli_test {
namespace {

// 150 samples of three separable classes named as iris's, with a header; with `missing`, some
// sepal widths are "NA" (the first on line 7).
std::string iris_like(bool missing = false) {
  std::string s = "sepal_length,sepal_width,petal_length,petal_width,species\n";
  const char* names[] = {"setosa", "versicolor", "virginica"};
  const double means[3][4] = {{5.0, 3.4, 1.5, 0.2}, {5.9, 2.8, 4.3, 1.3}, {6.6, 3.0, 5.6, 2.0}};
  std::uint32_t r = 1;
  char buf[32];
  for (int i = 0; i < 150; ++i) {
    const int c = i % 3;
    for (int j = 0; j < 4; ++j) {
      r = r * 1664525u + 1013904223u;
      std::snprintf(buf, sizeof buf, "%.2f,", means[c][j] + ((r >> 8) / 16777216.0 - 0.5) * 0.6);
      s += missing && i % 17 == 5 && j == 1 ? std::string("NA,") : std::string(buf);
    }
    s += std::string(names[c]) + "\n";
  }
  return s;
}

std::size_t lines_of(const std::string& p) {
  const std::string t = slurp(p);
  return static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n'));
}

void wait_lines(const std::string& p, std::size_t n) {
  for (int i = 0; i < 60000 && lines_of(p) < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

nlohmann::json training_state(const std::string& checkpoint) {
  return nlohmann::json::parse(
      safetensors_header(checkpoint)["__metadata__"]["gradflow.training"].get<std::string>());
}

class Usability : public Cli {};

// ---- 1. defaults ----

TEST_F(Usability, EveryDefaultHelpShowsIsWhatARunWithNoFlagsUses) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_FAIL() << "dataset-fashion-mnist is not installed (scripts/test.sh installs it)";
  const Result help = run("train --help");
  ASSERT_EQ(help.code, 0);
  // "  --name[,--alias] TYPE=VALUE" or "  --switch,--no-switch =VALUE": the left column ends at
  // two spaces (or one, when it fills its column); its first '=' starts the default (a value may
  // hold '=' itself: dropout=0.2).
  std::map<std::string, std::string> shown;
  std::stringstream lines(help.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  --", 0) != 0) continue;
    const std::string left = line.substr(2, line.find("  ", 2) - 2);
    const std::size_t eq = left.find('=');
    if (eq == std::string::npos) continue;  // no default shown: a file, a folder or a list, empty
    std::string key = left.substr(2, left.find_first_of(", ") - 2);
    std::replace(key.begin(), key.end(), '-', '_');
    shown[key] = left.substr(eq + 1, left.find(' ', eq) - eq - 1);  // no default holds a space
  }
  ASSERT_GE(shown.size(), 37u) << help.out;
  EXPECT_EQ(shown["batchnorm"], "false");
  EXPECT_EQ(shown["shuffle"], "true");
  EXPECT_EQ(shown["report"], "true");
  // A run given no flags, in an empty folder (its run folder: runs/<time>), stopped once its
  // configuration is written.
  const std::string cwd = path("cwd");
  fs::create_directories(cwd);
  const pid_t pid = spawn("train", path("log"), cwd);
  fs::path config;
  for (int i = 0; i < 60000 && config.empty(); ++i) {
    if (fs::exists(cwd + "/runs"))
      for (const auto& e : fs::directory_iterator(cwd + "/runs"))
        if (fs::exists(e.path() / "config.json")) config = e.path() / "config.json";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid, SIGKILL);
  wait_for(pid);
  ASSERT_FALSE(config.empty()) << slurp(path("log"));
  const auto c = nlohmann::json::parse(slurp(config.string()));
  // What "0" and "auto" chose for the default job's 60,000 rows (adapt_to_data), recorded as such.
  EXPECT_EQ(shown["batch_size"], "0");
  EXPECT_EQ(shown["epochs"], "0");
  EXPECT_EQ(shown["layers"], "auto");
  shown["batch_size"] = "128";
  shown["epochs"] = "15";
  shown["layers"] = "512:relu:bn:dropout=0.1,256:relu:bn:dropout=0.1";
  for (const auto& [key, value] : shown) {
    ASSERT_TRUE(c.contains(key)) << key;
    if (c[key].is_boolean()) EXPECT_EQ(value, c[key].get<bool>() ? "true" : "false") << key;
    else if (c[key].is_number()) EXPECT_DOUBLE_EQ(std::stod(value), c[key].get<double>()) << key;
    else EXPECT_EQ(value, c[key].get<std::string>()) << key;
  }
  // Every key is an option (but the file's version), the optimizer's hyper-parameters too, which
  // config.json records with the values used: Adam's defaults, PyTorch's.
  nlohmann::json keys = c;
  keys.erase("version");
  keys.erase("optimizer_options");
  keys.update(c["optimizer_options"]);
  for (const auto& [key, value] : keys.items()) {
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    EXPECT_NE(help.out.find(flag), std::string::npos) << key << " is in config.json but not an option";
  }
  EXPECT_EQ(c["optimizer_options"], nlohmann::json::parse(R"({"amsgrad": false, "beta1": 0.9, "beta2": 0.999,
                                                                "eps": 1e-08, "weight_decay": 0.0})"));
  // Their help names each optimizer's default ("(default: …, adam 0.9, …)"), the default
  // optimizer's being the value used.
  for (const auto& [key, value] : c["optimizer_options"].items()) {
    std::string flag = "  --" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    const std::size_t at = help.out.find(flag + " ");
    ASSERT_NE(at, std::string::npos) << key;
    const std::string line = help.out.substr(at, help.out.find('\n', help.out.find("(default: ", at)) - at);
    const std::size_t adam = line.find(" adam ");
    ASSERT_NE(adam, std::string::npos) << line;
    const std::string shown_value = line.substr(adam + 6, line.find_first_of(",)", adam) - adam - 6);
    if (value.is_boolean()) EXPECT_EQ(shown_value, value.get<bool>() ? "on" : "off") << key;
    else EXPECT_DOUBLE_EQ(std::stod(shown_value), value.get<double>()) << key;
  }
}

// An optimizer's hyper-parameters not given are its own defaults (PyTorch's), recorded in
// config.json; one it does not take is an error naming what it takes.
TEST_F(Usability, AnOptimizersUnsetHyperparametersAreItsDefaults) {
  const Result r = run("train --data xor --optimizer adamw --epochs 1 --no-report --out " + path("a"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto c = nlohmann::json::parse(slurp(path("a/config.json")));
  EXPECT_EQ(c["version"], 2);
  EXPECT_DOUBLE_EQ(c["optimizer_options"]["weight_decay"].get<double>(), 0.01);  // torch.optim.AdamW's
  const Result m = run("train --data xor --optimizer momentum --weight-decay 0.5 --epochs 1 --no-report --out " +
                       path("m"));
  ASSERT_EQ(m.code, 0) << m.err;
  const auto cm = nlohmann::json::parse(slurp(path("m/config.json")));
  EXPECT_DOUBLE_EQ(cm["optimizer_options"]["momentum"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(cm["optimizer_options"]["weight_decay"].get<double>(), 0.5);
  expect_clean_error(run("train --data xor --optimizer sgd --amsgrad --out " + path("b")),
                     "optimizer sgd has no hyper-parameter 'amsgrad' (it takes lr, momentum, dampening, weight_decay, "
                     "nesterov)",
                     path("b"));
  expect_clean_error(run("train --data xor --beta1 1 --out " + path("c")), "optimizer adam: beta1 must be in [0, 1), got 1",
                     path("c"));
}

// A config.json written before the optimizers were registered (no "version"; the optimizer's
// settings top-level; diagnostics_every a number) is read as the run it describes used it.
TEST_F(Usability, AConfigOfTheEarlierVersionIsMigrated) {
  const std::string old = write("old.json", R"({"data": "xor", "optimizer": "adamw", "lr": 0.01, "momentum": 0,
      "weight_decay": 0, "beta1": 0.8, "beta2": 0.999, "eps": 1e-8, "amsgrad": false, "centered": false,
      "diagnostics_every": 0, "epochs": 1, "report": false})");
  const Result r = run("train --config " + old + " --out " + path("a"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto c = nlohmann::json::parse(slurp(path("a/config.json")));
  EXPECT_EQ(c["version"], 2);
  EXPECT_EQ(c["diagnostics_every"], "0");
  EXPECT_EQ(c["optimizer_options"], nlohmann::json::parse(R"({"amsgrad": false, "beta1": 0.8, "beta2": 0.999,
                                                                "eps": 1e-08, "weight_decay": 0.0})"));
  EXPECT_FALSE(c.contains("momentum"));
  const std::string future = write("new.json", R"({"version": 3, "data": "xor"})");
  expect_clean_error(run("train --config " + future + " --out " + path("b")), "version 3 is not one this gradflow reads",
                     path("b"));
}

TEST_F(Usability, LayersMeanExactlyTheLayersWritten) {
  const Result r = run("train --data xor --layers 8:relu --epochs 1 --no-report --out " + path("a"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("model:  2-8(relu)-2(softmax), 42 parameters"), std::string::npos) << r.out;
  const Result b = run("train --data xor --layers 8:relu:bn:dropout=0.1 --epochs 1 --no-report --out " + path("b"));
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("model:  2-8(bn)(relu)(dropout 0.1)-2(softmax)"), std::string::npos) << b.out;
  // The flags still add them to every hidden layer, when asked.
  const Result c = run("train --data xor --layers 8:relu,4:tanh --batchnorm --dropout 0.2 --epochs 1 --no-report "
                       "--out " + path("c"));
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("2-8(bn)(relu)(dropout 0.2)-4(bn)(tanh)(dropout 0.2)-2(softmax)"), std::string::npos) << c.out;
}

// ---- 2. small data ----

TEST_F(Usability, SmallDataIsWrittenOnACadenceNotEveryEpoch) {
  const std::string iris = write("iris.csv", iris_like());
  const Result r = run("train --data " + iris + " --test-split 0.3 --standardize --layers 16:relu --epochs 200 "
                       "--batch-size 16 --out " + path("a"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("105 training samples, 45 test samples"), std::string::npos) << r.out;
  EXPECT_EQ(training_state(path("a") + "/checkpoint_last.safetensors")["trainer"]["epoch"], 200);  // always at the end
  // A cadence not reached: a run killed after some epochs has written no model yet ...
  const std::string spirals = " --data spirals --layers 32:relu --epochs 100000 --no-report ";
  pid_t pid = spawn("train" + spirals + "--save-every 99999 --out " + path("k"), path("log"));
  wait_lines(path("k") + "/metrics.jsonl", 3);
  kill(pid, SIGKILL);
  wait_for(pid);
  EXPECT_GE(lines_of(path("k") + "/metrics.jsonl"), 3u);
  EXPECT_FALSE(fs::exists(path("k") + "/checkpoint_last.safetensors"));
  EXPECT_FALSE(fs::exists(path("k") + "/model.safetensors"));
  // ... every 2 epochs: the checkpoint holds an even epoch ...
  pid = spawn("train" + spirals + "--save-every 2 --out " + path("e"), path("log"));
  wait_lines(path("e") + "/metrics.jsonl", 5);
  kill(pid, SIGKILL);
  wait_for(pid);
  const std::size_t epoch = training_state(path("e") + "/checkpoint_last.safetensors")["trainer"]["epoch"];
  EXPECT_EQ(epoch % 2, 0u);
  EXPECT_GE(epoch, 2u);
  // ... and an interruption saves where it stopped, with the last completed epoch's model.
  pid = spawn("train" + spirals + "--save-every 99999 --out " + path("i"), path("log"));
  wait_lines(path("i") + "/metrics.jsonl", 3);
  kill(pid, SIGINT);
  EXPECT_EQ(wait_for(pid), 130) << slurp(path("log"));
  EXPECT_TRUE(fs::exists(path("i") + "/model.safetensors"));
  EXPECT_TRUE(training_state(path("i") + "/checkpoint_last.safetensors")["trainer"].contains("within"));
  expect_clean_error(run("train --data xor --save-every 0 --out " + path("x")), "--save-every '0'", path("x"));
  expect_clean_error(run("train --data xor --save-every 5m --out " + path("x")), "--save-every '5m'", path("x"));
}

// ---- 3. CSV as people have it ----

TEST_F(Usability, CsvTextLabelsBecomeNamedClasses) {
  const std::string iris = write("iris.csv", iris_like());
  const Result r = run("train --data " + iris + " --test-split 0.3 --standardize --layers 16:relu --epochs 100 "
                       "--batch-size 16 --out " + path("m"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("4 features, 3 classes"), std::string::npos) << r.out;
  const auto meta = safetensors_header(path("m") + "/model.safetensors")["__metadata__"];
  EXPECT_EQ(meta["gradflow.classes"], R"(["setosa","versicolor","virginica"])");
  const Result p = run("predict --model " + path("m") + " --input " + iris);
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("0,0,\"setosa\","), std::string::npos) << p.out.substr(0, 200);
  EXPECT_NE(p.out.find("\n1,1,\"versicolor\","), std::string::npos) << p.out.substr(0, 200);
  // eval reads the label column by its name and the labels by the model's class names.
  const Result e = run("eval --model " + path("m") + " --data " + iris);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find(" virginica "), std::string::npos) << e.out;
  const double acc = std::stod(e.out.substr(e.out.find("accuracy ") + 9));
  EXPECT_GT(acc, 90);
  const std::string other = write("other.csv", "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,daisy\n");
  expect_clean_error(run("eval --model " + path("m") + " --data " + other),
                     "other.csv:2: label 'daisy' is not one of the 3 classes (setosa, versicolor, virginica)", path("x"));
}

TEST_F(Usability, MissingValuesAreAnErrorOrImputedFromTheTrainingSet) {
  const std::string na = write("na.csv", iris_like(true));
  expect_clean_error(run("train --data " + na + " --out " + path("x")),
                     "na.csv:7: column 2 ('sepal_width'): missing value ('NA'); fill it in, or let training fill it "
                     "(--impute mean|median)",
                     path("x"));
  const Result r = run("train --data " + na + " --impute median --test-split 0.3 --standardize --layers 16:relu "
                       "--epochs 50 --batch-size 16 --out " + path("m"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("missing values filled (median)"), std::string::npos) << r.out;
  const auto input = nlohmann::json::parse(
      safetensors_header(path("m") + "/model.safetensors")["__metadata__"]["gradflow.input"].get<std::string>());
  EXPECT_EQ(input["impute"], "median");
  EXPECT_EQ(input["fill"].size(), 4u);
  // The fill values travel with the model: predict fills the same way.
  const Result p = run("predict --model " + path("m") + " --input " + na);
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(std::count(p.out.begin(), p.out.end(), '\n'), 151);
}

TEST_F(Usability, ANumericTargetIsARegressionNotHundredsOfClasses) {
  std::string csv = "x,price\n";
  for (int i = 0; i < 200; ++i) csv += std::to_string(i * 0.01) + "," + std::to_string(1.5 * i * 0.01 + 0.25) + "\n";
  const std::string f = write("price.csv", csv);
  expect_clean_error(run("train --data " + f + " --out " + path("x")),
                     "is a numeric target: train a regression (--task regression or --loss mse)", path("x"));
  const Result r = run("train --data " + f + " --task regression --layers 16:tanh --epochs 20 --test-split 0.2 "
                       "--no-report --out " + path("r"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1 feature, regression"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("loss mse"), std::string::npos) << r.out;
  expect_clean_error(run("train --data " + write("t.csv", iris_like()) + " --task regression --out " + path("x")),
                     "the target 'setosa' is not a finite number", path("x"));
  expect_clean_error(run("train --data " + f + " --task regression --loss cross_entropy --out " + path("x")),
                     "a regression (--task regression) trains with --loss mse", path("x"));
}

// ---- 4. validation ----

TEST_F(Usability, SelectionUsesAValidationSetNeverTheTestSet) {
  const Result r = run("train --data moons --layers 16:relu --epochs 3 --val-split 0.2 --no-report --out " + path("a"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("800 training samples, 200 validation samples (moons (20% held out)), 500 test samples"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("val_loss   val_acc  test_loss"), std::string::npos) << r.out;
  const auto m = read_jsonl(path("a") + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 3u);
  std::size_t best = 0;
  for (std::size_t e = 0; e < m.size(); ++e) {
    ASSERT_TRUE(m[e]["val_loss"].is_number() && m[e]["val_acc"].is_number() && m[e]["test_loss"].is_number());
    if (m[e]["val_loss"] < m[best]["val_loss"]) best = e;
  }
  EXPECT_EQ(training_state(path("a") + "/checkpoint_best.safetensors")["epoch"], best + 1);
  // Without a validation set nothing is selected: no checkpoint_best, no val columns.
  const Result n = run("train --data moons --layers 16:relu --epochs 2 --no-report --out " + path("n"));
  ASSERT_EQ(n.code, 0) << n.err;
  EXPECT_FALSE(fs::exists(path("n") + "/checkpoint_best.safetensors"));
  EXPECT_TRUE(read_jsonl(path("n") + "/metrics.jsonl")[0]["val_loss"].is_null());
  // The plateau schedule holds out 10% itself and says so; so does early stopping.
  const Result p = run("train --data moons --layers 16:relu --epochs 2 --schedule plateau --no-report --out " +
                       path("p"));
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("note:   the plateau schedule selects on a validation set: holding out 10% of the training "
                       "data (--val-split 0.1; --val FILE names one)"),
            std::string::npos)
      << p.out;
  EXPECT_NE(p.out.find("900 training samples, 100 validation samples"), std::string::npos) << p.out;
  // Files: --val next to --test, and --val-split also when --test is given.
  const std::string iris = write("iris.csv", iris_like());
  const std::string head = "sepal_length,sepal_width,petal_length,petal_width,species\n";
  const std::string val = write("val.csv", head + "5.0,3.4,1.5,0.2,setosa\n6.6,3.0,5.6,2.0,virginica\n");
  const Result f = run("train --data " + iris + " --test " + val + " --val " + val + " --layers 8:relu --epochs 2 "
                       "--no-report --out " + path("f"));
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_NE(f.out.find("150 training samples, 2 validation samples (" + val + "), 2 test samples"), std::string::npos)
      << f.out;
  const Result s = run("train --data " + iris + " --test " + val + " --val-split 0.2 --layers 8:relu --epochs 2 "
                       "--no-report --out " + path("s"));
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("120 training samples, 30 validation samples"), std::string::npos) << s.out;
  expect_clean_error(run("train --data moons --test-split 0.2 --out " + path("x")), "moons has its own test set",
                     path("x"));
  expect_clean_error(run("train --data " + iris + " --val " + val + " --val-split 0.1 --out " + path("x")),
                     "--val and --val-split both name a validation set", path("x"));
}

// ---- 5. PyTorch export ----

TEST_F(Usability, ThePyTorchExportComputesWhatPredictComputesOnRawInputs) {
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0)
    GTEST_FAIL() << "python3-torch is not installed (only this interchange test needs it) (scripts/test.sh installs it)";
  const std::string na = write("na.csv", iris_like(true));
  ASSERT_EQ(run("train --data " + na + " --impute mean --standardize --layers 16:relu --epochs 30 --no-report --out " +
                path("m")).code, 0);
  const std::string py = "/usr/bin/python3 " GRADFLOW_SOURCE_DIR "/tools/torch_bridge.py";
  ASSERT_EQ(std::system((py + " to-torch " + path("m") + "/model.safetensors " + path("m.pt")).c_str()), 0);
  ASSERT_EQ(std::system((py + " from-torch " + path("m.pt") + " " + path("back.safetensors")).c_str()), 0);
  const Result a = run("predict --model " + path("m") + " --input " + na);
  const Result b = run("predict --model " + path("back.safetensors") + " --input " + na);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);  // the round trip keeps the fill values, the statistics and the names
  // torch alone (no gradflow code) runs the exported module on the raw rows, NaNs included.
  const std::string script = write("t.py",
                                   "import csv, sys, torch\n"
                                   "m = torch.jit.load(sys.argv[1])\n"
                                   "rows = list(csv.reader(open(sys.argv[2])))[1:]\n"
                                   "x = torch.tensor([[float('nan') if v == 'NA' else float(v) for v in r[:4]] for r in rows])\n"
                                   "for p in m(x).tolist(): print(','.join('%.6g' % v for v in p))\n");
  const Result t = run_in_shell("/usr/bin/python3 " + script + " " + path("m.pt") + " " + na);
  ASSERT_EQ(t.code, 0) << t.err;
  std::stringstream ours(a.out), theirs(t.out);
  std::string mine, line;
  std::getline(ours, mine);  // header
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(std::getline(ours, mine) && std::getline(theirs, line)) << i;
    std::stringstream g(mine.substr(mine.find('"', mine.find('"') + 1) + 2)), q(line);
    for (int k = 0; k < 3; ++k) {
      std::string u, v;
      std::getline(g, u, ',');
      std::getline(q, v, ',');
      EXPECT_NEAR(std::stod(u), std::stod(v), 1e-5) << "sample " << i << " class " << k;
    }
  }
}

// ---- 6. predict matches columns by name ----

TEST_F(Usability, PredictMatchesCsvColumnsToTheTrainingFeaturesByName) {
  const std::string iris = write("iris.csv", iris_like());
  ASSERT_EQ(run("train --data " + iris + " --standardize --layers 8:relu --epochs 20 --no-report --out " + path("m"))
                .code, 0);
  const std::string rows = "5.0,3.4,1.5,0.2\n6.6,3.0,5.6,2.0\n";
  const std::string in_order = write("a.csv", "sepal_length,sepal_width,petal_length,petal_width\n" + rows);
  const std::string shuffled = write("b.csv", "petal_width,species,sepal_length,petal_length,sepal_width\n"
                                              "0.2,x,5.0,1.5,3.4\n2.0,y,6.6,5.6,3.0\n");
  const Result a = run("predict --model " + path("m") + " --input " + in_order);
  const Result b = run("predict --model " + path("m") + " --input " + shuffled);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);  // reordered columns, and the label column ignored by its name
  expect_clean_error(run("predict --model " + path("m") + " --input " +
                         write("c.csv", "sepal_length,sepal_width,petal_length\n5,3,1\n")),
                     "c.csv: the header does not match the model's 4 features: missing petal_width", path("x"));
  expect_clean_error(run("predict --model " + path("m") + " --input " +
                         write("d.csv", "sepal_length,sepal_width,petal_length,petal_width,colour\n5,3,1,0,1\n")),
                     "not a feature: colour", path("x"));
}

// ---- 8. reports on short runs ----

TEST_F(Usability, ShortRunsRecordEnoughAndTheirReportsSayWhyAPanelIsEmpty) {
  // 20 steps: a record at every step (auto), the last one included.
  ASSERT_EQ(run("train --data xor --layers 4:tanh --epochs 5 --batch-size 1 --schedule none --out " + path("s")).code, 0);
  const auto d = read_jsonl(path("s") + "/diagnostics.jsonl");
  ASSERT_EQ(d.size(), 20u);
  EXPECT_EQ(d.back()["step"], 20);
  // A single step is still recorded.
  ASSERT_EQ(run("train --data xor --layers 4:tanh --epochs 1 --no-report --out " + path("one")).code, 0);
  EXPECT_EQ(read_jsonl(path("one") + "/diagnostics.jsonl").size(), 1u);
  // Every 50 steps, and the last: 100 epochs of 4 steps.
  ASSERT_EQ(run("train --data xor --layers 4:tanh --epochs 100 --batch-size 1 --diagnostics-every 50 --no-report "
                "--out " + path("f")).code, 0);
  EXPECT_EQ(read_jsonl(path("f") + "/diagnostics.jsonl").size(), 8u);
  ASSERT_EQ(run("train --data xor --layers 4:tanh --epochs 2 --diagnostics-every 0 --out " + path("off")).code, 0);

  const std::string dom = render(path("s") + "/report.html", dir / "profile");
  if (dom.empty()) GTEST_FAIL() << "Debian's chromium is not installed: the pages were written but not rendered (scripts/test.sh installs it)";
  EXPECT_EQ(dom.find("data-errors=\""), std::string::npos) << "JavaScript errors in the report";
  EXPECT_NE(dom.find("no data: this model has no BatchNorm layer"), std::string::npos);
  EXPECT_NE(dom.find("no data: this model has no ReLU-family"), std::string::npos);
  // A constant learning rate: every tick of every axis has its own label.
  std::size_t axes = 0;
  for (std::size_t p = 0; (p = dom.find("data-yticks=\"", p)) != std::string::npos; ++axes) {
    p += 13;
    std::string labels = dom.substr(p, dom.find('"', p) - p);
    for (std::size_t q; (q = labels.find("&quot;")) != std::string::npos;) labels.replace(q, 6, "\"");
    const auto ticks = nlohmann::json::parse(labels).get<std::vector<std::string>>();
    EXPECT_EQ(std::set<std::string>(ticks.begin(), ticks.end()).size(), ticks.size()) << labels;
  }
  EXPECT_GE(axes, 8u);
  const std::string off = render(path("off") + "/report.html", dir / "profile2");
  EXPECT_NE(off.find("no data: per-layer diagnostics were off (--diagnostics-every 0)"), std::string::npos);
}

}  // namespace
}  // namespace gradflow_cli_test
