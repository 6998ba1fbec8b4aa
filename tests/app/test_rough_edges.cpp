// The rough edges a new user hit (issue #34), each a test that failed before its fix.
#include <cstring>
#include <regex>

#include "cli_helpers.h"

namespace gradflow_cli_test {
namespace {

class RoughEdges : public Cli {
 protected:
  // Three classes of 60 rows, 4 features, with a header; labels as `names` gives them.
  std::string three_classes(const std::vector<std::string>& names, char sep = ',', bool missing = false) const {
    std::string s = std::string("a") + sep + "b" + sep + "c" + sep + "d" + sep + "label\n";
    for (int i = 0; i < 60; ++i) {
      const int c = i % 3;
      for (int j = 0; j < 4; ++j)
        s += (missing && i == 4 && j == 1 ? std::string("NA") : std::to_string(c * 2 + j * 0.1 + (i % 7) * 0.05)) + sep;
      s += names[static_cast<std::size_t>(c)] + "\n";
    }
    return s;
  }
};

std::size_t last_step(const std::string& diagnostics) {
  return read_jsonl(diagnostics).back()["step"].get<std::size_t>();
}

// 1. Each run of a comparison on its own epochs and steps, and the charts as wide as the page allows.
TEST_F(RoughEdges, CompareDrawsEveryRunOnItsOwnEpochsAndSteps) {
  const std::string base = " --data spirals --layers 16:relu --diagnostics-every 3 --no-report --out ";
  ASSERT_EQ(run("train --epochs 2" + base + path("short")).code, 0);
  ASSERT_EQ(run("train --epochs 5" + base + path("long")).code, 0);
  const Result c = run("compare " + path("short") + " " + path("long") + " --out " + path("c.html"));
  ASSERT_EQ(c.code, 0) << c.err;
  const std::string dom = render(path("c.html"), dir / "profile", 1200);
  if (dom.empty()) GTEST_FAIL() << "Debian's chromium is not installed (scripts/test.sh installs it)";
  EXPECT_EQ(chart_attr(dom, "Loss", "data-x"), "[1,5]");
  EXPECT_EQ(chart_attr(dom, "Loss", "data-lastx"), "[2,2,5,5]");  // train and test of each run
  const std::string s = std::to_string(last_step(path("short/diagnostics.jsonl")));
  const std::string l = std::to_string(last_step(path("long/diagnostics.jsonl")));
  EXPECT_EQ(chart_attr(dom, "Gradient norm ‖∂L/∂W‖ per layer", "data-lastx"), "[" + s + "," + s + "," + l + "," + l + "]");
  // Two charts a row on a 1200-px page, each about half its width.
  EXPECT_GE(std::stoi("0" + chart_attr(dom, "Loss", "data-width")), 480) << dom.substr(0, 300);
}

// 2. Weights and statistics from elsewhere: refused at load, naming the tensor and the element.
TEST_F(RoughEdges, AModelFileWithNonFiniteValuesOrANegativeVarianceIsRefused) {
  ASSERT_EQ(run("train --data moons --layers 8:relu:bn --epochs 1 --no-report --out " + path("m")).code, 0);
  const auto patch = [&](const std::string& tensor, std::size_t element, float value, const std::string& name) {
    std::string bytes = slurp(path("m/model.safetensors"));
    const auto h = safetensors_header(path("m/model.safetensors"));
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    const std::size_t at = 8 + n + h[tensor]["data_offsets"][0].get<std::size_t>() + 4 * element;
    std::memcpy(bytes.data() + at, &value, 4);
    return write(name, bytes);
  };
  const std::string nan = patch("0.weight", 3, std::numeric_limits<float>::quiet_NaN(), "nan.safetensors");
  expect_clean_error(run("eval --model " + nan + " --data moons"), "tensor '0.weight': element 3 is nan (expected a finite number)",
                     path("x"));
  const std::string var = patch("1.running_var", 2, -1.0f, "var.safetensors");
  expect_clean_error(run("predict --model " + var + " --input " + write("x.csv", "a,b\n1,2\n")),
                     "tensor '1.running_var': element 2 is -1 (expected a variance: finite and ≥ 0)", path("x"));
}

// 3. UCI's 1, 2, 3: three classes, named by their values, and --classes takes the names.
TEST_F(RoughEdges, NumericLabelsThatAreNotClassIndicesBecomeClassesLikeText) {
  const std::string wine = write("wine.csv", three_classes({"1", "2", "3"}));
  const Result r = run("train --data " + wine + " --test-split 0.3 --layers 8:relu --epochs 30 --lr 0.01 --no-report "
                       "--out " + path("a"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("4 features, 3 classes"), std::string::npos) << r.out;
  const Result p = run("predict --model " + path("a") + " --input " + wine + " --format json");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("\"label\":\"3\""), std::string::npos) << p.out.substr(0, 300);
  const Result two = run("train --data " + wine + " --classes 3,1 --test-split 0.3 --layers 8:relu --epochs 1 "
                         "--no-report --out " + path("b"));
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_NE(two.out.find("2 classes"), std::string::npos) << two.out;
  EXPECT_EQ(nlohmann::json::parse(safetensors_header(path("b/model.safetensors"))["__metadata__"]["gradflow.classes"]
                                      .get<std::string>()),
            nlohmann::json({"3", "1"}));
}

// 5 and 6. A NUL byte, and names that are not UTF-8: refused when the file is read, before training.
TEST_F(RoughEdges, NulBytesAndNamesThatAreNotUtf8AreRefusedWhenRead) {
  const std::string nul = write("nul.csv", std::string("x,label\n1,0\n2,1\0\n3,0\n", 22));
  expect_clean_error(run("train --data " + nul + " --out " + path("o")), "nul.csv:3:4: a NUL byte", path("o"));
  const std::string latin1 = write("latin1.csv", "x,label\n1,caf\xe9\n2,tea\n3,caf\xe9\n");
  expect_clean_error(run("train --data " + latin1 + " --out " + path("o")),
                     "latin1.csv:2:6: the label is not UTF-8 text (byte 0xE9)", path("o"));
  const std::string header = write("header.csv", "x\xff,label\n1,a\n2,b\n");
  expect_clean_error(run("train --data " + header + " --out " + path("o")),
                     "header.csv:1:2: the header name is not UTF-8 text (byte 0xFF)", path("o"));
}

// 8. A run's config.json and the run itself work from any folder; a recipe's files sit beside it.
TEST_F(RoughEdges, RelativePathsWorkFromAnotherFolder) {
  fs::create_directories(path("a"));
  fs::create_directories(path("b"));
  write("a/iris.csv", three_classes({"x", "y", "z"}));
  const std::string cli = GRADFLOW_CLI;
  const Result r = run_in_shell("cd " + path("a") + " && " + cli + " train --data iris.csv --test-split 0.2 "
                                "--layers 4:relu --epochs 1 --no-report --out run");
  ASSERT_EQ(r.code, 0) << r.err;
  const Result again = run_in_shell("cd " + path("b") + " && " + cli + " train --config ../a/run/config.json --out again");
  EXPECT_EQ(again.code, 0) << again.err;
  const Result resumed = run_in_shell("cd " + path("b") + " && " + cli + " train --resume ../a/run --epochs 2");
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  write("a/recipe.json", R"({"data": "iris.csv", "test_split": 0.2, "epochs": 1, "report": false})");
  const Result recipe = run_in_shell("cd " + path("b") + " && " + cli + " train --config ../a/recipe.json --out r");
  EXPECT_EQ(recipe.code, 0) << recipe.err;
  write("a/bad.json", R"({"data": "nothere.csv"})");
  expect_clean_error(run("train --config " + path("a/bad.json") + " --out " + path("o")),
                     "bad.json: 'data' names 'nothere.csv', which is neither beside it", path("o"));
}

// 10. The wrong kind of file: say what it is and what was expected.
TEST_F(RoughEdges, TheWrongKindOfFileIsNamed) {
  ASSERT_EQ(run("train --data xor --layers 4:tanh --epochs 1 --no-report --out " + path("m")).code, 0);
  expect_clean_error(run("predict --model " + path("m/config.json") + " --input " + path("m")),
                     "not a model file: it starts with text", path("x"));
  fs::create_directories(path("folder"));
  expect_clean_error(run("predict --model " + path("m") + " --input " + path("folder")), "is a folder; expected a file",
                     path("x"));
  const std::string file = write("file", "x");
  const Result out = run("train --data xor --epochs 1 --out " + file);
  EXPECT_NE(out.err.find("is a file, not a folder: --out names the run folder"), std::string::npos) << out.err;
  expect_clean_error(run("compare " + path("m") + " " + path("m") + " --out " + path("missing/dir/x.html")),
                     "the folder " + path("missing/dir") + " does not exist", path("missing"));
}

// 11. An error quotes at most ~80 characters of what it was given, and says how long it was.
TEST_F(RoughEdges, AnEchoedInputIsCutShort) {
  const std::string long_name(2'000'000, 'x');
  const std::string config = write("long.json", "{\"data\": \"" + long_name + ".csv\"}");
  const Result r = run("train --config " + config + " --out " + path("o"));
  expect_clean_error(r, "(2000004 characters)", path("o"));
  EXPECT_LT(r.err.size(), 400u);
  const Result s = run("train --data xor --schedule " + std::string(5000, 's') + " --out " + path("o"));
  expect_clean_error(s, "(5000 characters)", path("o"));
  EXPECT_LT(s.err.size(), 600u);
}

// 12 and 13. eval and predict say what the model needs.
TEST_F(RoughEdges, EvalAndPredictSayWhatACsvModelNeeds) {
  const std::string csv = write("t.csv", three_classes({"p", "q", "r"}));
  ASSERT_EQ(run("train --data " + csv + " --test-split 0.2 --layers 4:relu --epochs 1 --no-report --out " + path("m"))
                .code,
            0);
  expect_clean_error(run("eval --model " + path("m")), "was trained on a CSV file (4 features: a, b, c, d): pass the "
                                                      "data to evaluate on with --data FILE.csv",
                     path("x"));
  const Result e = run("eval --model " + path("m") + " --data " + csv);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_TRUE(std::regex_search(e.out, std::regex("predicted\\)\\n +p +q +r\\n"))) << e.out;  // columns named as rows
  const std::string missing = write("na.csv", three_classes({"p", "q", "r"}, ',', true));
  expect_clean_error(run("predict --model " + path("m") + " --input " + missing),
                     "missing value ('NA'); fill it in, or predict fills missing values only for a model trained "
                     "with --impute mean|median, and this one was trained without",
                     path("x"));
}

// 14. Semicolons and tabs, as spreadsheets in many locales write them.
TEST_F(RoughEdges, SemicolonAndTabSeparatedFilesAreRead) {
  for (const char sep : {';', '\t'}) {
    const std::string f = write("s.csv", three_classes({"p", "q", "r"}, sep));
    const Result r = run("train --data " + f + " --test-split 0.2 --layers 4:relu --epochs 1 --no-report --out " +
                         path(sep == ';' ? "semi" : "tab"));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("4 features, 3 classes"), std::string::npos) << r.out;
  }
  expect_clean_error(run("train --data " + write("one.csv", "x\n1\n2\n") + " --out " + path("o")),
                     "1 column(s) separated by ','", path("o"));
}

// 15. A misspelt option gets the nearest one; a count out of range one wording.
TEST_F(RoughEdges, AMisspeltOptionGetsTheNearestOne) {
  expect_clean_error(run("train --data xor --epoch 1"), "did you mean --epochs instead of --epoch?", path("x"));
  expect_clean_error(run("train --data xor --lerning-rate 0.1"), "did you mean --learning-rate", path("x"));
  // (--epochs 0 is the default: chosen for the data size)
  for (const char* n : {"-1", "1.5"})
    expect_clean_error(run(std::string("train --data xor --epochs ") + n + " --out " + path("x")),
                       std::string("--epochs: '") + n + "' is not a whole number ≥ 0", path("x"));
  const std::string config = write("c.json", R"({"data": "xor", "epochs": -1})");
  expect_clean_error(run("train --config " + config + " --out " + path("x")),
                     "'epochs' should be a whole number ≥ 0 like 0, got -1", path("x"));
}

// 16. A run that diverged before its first epoch keeps nothing, so the same --out works again.
TEST_F(RoughEdges, DivergenceBeforeTheFirstEpochLeavesNoFolder) {
  const std::string args = "train --data moons --optimizer sgd --lr 1e30 --schedule none --epochs 2 --out " + path("d");
  const Result r = run(args);
  expect_clean_error(r, "No epoch finished, so nothing was saved", path("d"));
  expect_clean_error(run(args), "No epoch finished", path("d"));  // not "already exists"
}

// 17. The torch bridge without PyTorch: one line, and --help still works.
TEST_F(RoughEdges, TheTorchBridgeWithoutPyTorchSaysHowToGetIt) {
  fs::create_directories(path("notorch/torch"));
  write("notorch/torch/__init__.py", "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n");
  const std::string py = "PYTHONPATH=" + path("notorch") + " /usr/bin/python3 " GRADFLOW_SOURCE_DIR "/tools/torch_bridge.py";
  const Result help = run_in_shell(py + " --help");
  EXPECT_EQ(help.code, 0) << help.err;
  EXPECT_NE(help.out.find("to-torch MODEL.safetensors OUT.pt"), std::string::npos) << help.out;
  const Result r = run_in_shell(py + " to-torch a.safetensors b.pt");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "torch_bridge.py: needs PyTorch (Debian: apt-get install python3-torch, then run it with "
                   "/usr/bin/python3)\n");
}

// 18. Numbers and words as a reader expects them.
TEST_F(RoughEdges, CountsRatesAndLargeLossesReadWell) {
  const Result one = run("train --data " + write("r.csv", "x,y\n1,2\n2,4\n3,6\n4,8\n") +
                         " --task regression --layers 2:relu --epochs 1 --no-report --out " + path("one"));
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_NE(one.out.find("1 feature, regression"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("after 1 epoch in"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find(", 1 epoch, loss mse"), std::string::npos) << one.out;
  // A target around 1e7: losses of 1e13 and more keep the table's columns.
  std::string big = "x,y\n";
  for (int i = 0; i < 64; ++i) big += std::to_string(i % 8) + "," + std::to_string(3e6 * (i % 8) + 1e7) + "\n";
  const Result b = run("train --data " + write("big.csv", big) + " --task regression --layers 4:relu --epochs 3 "
                       "--optimizer sgd --lr 1e-9 --schedule none --out " + path("big"));
  ASSERT_EQ(b.code, 0) << b.err;
  std::stringstream lines(b.out);
  std::size_t header = 0, rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("epoch", 0) == 0) header = line.size();
    if (header && std::regex_search(line, std::regex("^ +[0-9]+  "))) {
      EXPECT_EQ(line.size(), header) << line;
      EXPECT_NE(line.find("e+1"), std::string::npos) << line;
      ++rows;
    }
  }
  EXPECT_EQ(rows, 3u) << b.out;
  const std::string dom = render(path("big/report.html"), dir / "profile");
  if (dom.empty()) GTEST_FAIL() << "Debian's chromium is not installed (scripts/test.sh installs it)";
  const std::string ticks = chart_attr(dom, "Loss", "data-yticks");
  EXPECT_NE(ticks.find("e+1"), std::string::npos) << ticks;
  EXPECT_EQ(ticks.find("0000000"), std::string::npos) << ticks;
  // The divergence message's rate, and a study's claim said once.
  const Result d = run("train --data moons --optimizer sgd --lr 904508.4971874737 --schedule none --out " + path("d"));
  EXPECT_NE(d.err.find("(now 904508)"), std::string::npos) << d.err;
  const Result s = run("study xor --quick --out " + path("s"));
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(count(s.out, "a perceptron and a linear network cannot learn XOR"), 1u) << s.out;
}

// 12. A command that writes one file never replaces a file it did not write (a data file, a
// model) unless told to (--force); a page it drew it may draw again.
TEST_F(RoughEdges, ACommandNeverReplacesAFileItDidNotWrite) {
  const std::string train = " --data spirals --layers 8:relu --epochs 1 --no-report --out ";
  ASSERT_EQ(run("train" + train + path("a")).code, 0);
  ASSERT_EQ(run("train" + train + path("b")).code, 0);
  ASSERT_EQ(run("export " + path("a") + " --out " + path("m.onnx")).code, 0);
  const std::string data = write("iris.csv", "a,b,species\n1,2,setosa\n");
  for (const std::string& cmd : {"report " + path("a") + " --out " + data, "compare " + path("a") + " " + path("b") +
                                     " --out " + data, "export " + path("a") + " --out " + data,
                                 "import " + path("m.onnx") + " --out " + data, "export " + path("a") + " --out " +
                                     path("m.onnx")}) {
    const Result r = run(cmd);
    EXPECT_NE(r.code, 0) << cmd;
    EXPECT_NE(r.err.find("exists"), std::string::npos) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("pass --force to replace it"), std::string::npos) << r.err;
  }
  EXPECT_EQ(slurp(data), "a,b,species\n1,2,setosa\n");
  ASSERT_EQ(run("report " + path("a") + " --out " + path("page.html")).code, 0);
  EXPECT_EQ(run("compare " + path("a") + " " + path("b") + " --out " + path("page.html")).code, 0);  // its own page
  EXPECT_EQ(run("import " + path("m.onnx") + " --out " + data + " --force").code, 0);
  EXPECT_NE(slurp(data).find("gradflow.architecture"), std::string::npos);
}

// 13. Names taken from files reach the terminal with their control characters escaped.
TEST_F(RoughEdges, NamesFromFilesAreEscapedOnTheTerminal) {
  ASSERT_EQ(run("train --data spirals --layers 8:relu --epochs 1 --no-report --out " + path("a")).code, 0);
  ASSERT_EQ(run("export " + path("a") + " --out " + path("m.onnx")).code, 0);
  std::string onnx = slurp(path("m.onnx"));
  const std::size_t relu = onnx.find("Relu");
  ASSERT_NE(relu, std::string::npos);
  onnx.replace(relu, 4, "R\x1b]0");  // an op type that would set the terminal's title
  write("evil.onnx", onnx);
  const Result r = run("import " + path("evil.onnx") + " --out " + path("e.safetensors"));
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("R\\x1b]0"), std::string::npos) << r.err;
  // A class name with an escape sequence, stored in the model and printed by predict.
  write("x.csv", "a,b,label\n0,0,plain\n1,1,\x1b[2Jclear\n0,1,plain\n1,0,\x1b[2Jclear\n");
  ASSERT_EQ(run("train --data " + path("x.csv") + " --layers 4:relu --epochs 1 --no-report --out " + path("c")).code, 0);
  const Result p = run("predict --model " + path("c") + " --input " + write("in.csv", "a,b\n1,1\n0,0\n"));
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out.find('\x1b'), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("\\x1b[2Jclear"), std::string::npos) << p.out;
  // In the report page, a label is text, never markup.
  std::string rows = "a,b,label\n";
  for (int i = 0; i < 40; ++i) rows += std::to_string(i % 2) + "," + std::to_string(i % 3) + "," + (i % 2 ? "<script>x()</script>" : "plain") + "\n";
  ASSERT_EQ(run("train --data " + write("s.csv", rows) + " --test-split 0.5 --layers 4:relu --epochs 1 --out " + path("s")).code, 0);
  const std::string page = slurp(path("s/report.html"));
  EXPECT_EQ(page.find("<script>x()"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;x()&lt;/script&gt;"), std::string::npos);
}

}  // namespace
}  // namespace gradflow_cli_test
