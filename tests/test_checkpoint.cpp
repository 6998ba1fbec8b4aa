// safetensors model files: round trip, and rejection of truncated, corrupt and hostile files.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <fmt/format.h>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

namespace fs = std::filesystem;

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("gradflow_ckpt_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string& n) const { return (dir / n).string(); }
  std::string bytes_of(const std::string& p) const {
    std::stringstream ss;
    ss << std::ifstream(p, std::ios::binary).rdbuf();
    return ss.str();
  }
  void write(const std::string& p, const std::string& b) const { std::ofstream(p, std::ios::binary) << b; }
  // A valid file's header JSON and data, to be tampered with.
  std::pair<nlohmann::json, std::string> parts(const std::string& p) const {
    const std::string b = bytes_of(p);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(b[i]);
    return {nlohmann::json::parse(b.substr(8, n)), b.substr(8 + n)};
  }
  static std::string assemble(const nlohmann::json& h, const std::string& data) {
    const std::string hs = h.dump();
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((hs.size() >> (8 * i)) & 0xff);
    return out + hs + data;
  }
  void expect_rejected(const std::string& bytes, const std::string& what) {
    write(path("bad.safetensors"), bytes);
    try {
      load_model(path("bad.safetensors"));
      ADD_FAILURE() << "accepted a bad file (" << what << ")";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what() << " (wanted: " << what << ")";
      EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
    }
  }
  fs::path dir;
};

Sequential make_model() {
  return Sequential(5, {nn::dense(7), nn::prelu(true), nn::dense(6, Init::HeUniform, false), nn::leaky_relu(0.2f),
                        nn::dense(4), nn::rrelu(0.1f, 0.3f), nn::dense(3), nn::elu(0.5f), nn::dense(1), nn::sigmoid()},
                    9);
}

TEST_F(Checkpoint, RoundTripKeepsArchitectureWeightsAndMetadata) {
  Sequential m = make_model();
  Standardizer s{{1, 2, 3, 4, 5}, {0.5f, 1, 1, 2, 3}};
  save_model(path("m.safetensors"), m, {.input = s, .class_names = {"no", "yes"}, .loss = "bce"});
  ModelFile f = load_model(path("m.safetensors"));
  ASSERT_EQ(f.model->size(), m.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(f.model->layer(i).name(), m.layer(i).name());
    EXPECT_TRUE(f.model->layer(i).spec() == m.layer(i).spec()) << i;  // the kind and every argument
  }
  EXPECT_EQ(f.model->layer(5).spec().rrelu().lower, 0.1f);
  EXPECT_EQ(f.model->layer(7).spec().elu().alpha, 0.5f);
  EXPECT_TRUE(f.model->layer(1).spec().prelu().per_unit);
  EXPECT_FALSE(f.model->layer(2).spec().dense().bias);
  for (std::size_t i = 0; i < m.num_params(); ++i) ASSERT_EQ(f.model->parameters()[i], m.parameters()[i]);
  EXPECT_EQ(f.info.input.mean, s.mean);
  EXPECT_EQ(f.info.input.std, s.std);
  EXPECT_EQ(f.info.class_names, (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(f.info.loss, "bce");
  // Names and shapes are those of torch's nn.Sequential state_dict.
  auto [h, data] = parts(path("m.safetensors"));
  EXPECT_EQ(h["0.weight"]["shape"], nlohmann::json({7, 5}));
  EXPECT_EQ(h["0.bias"]["shape"], nlohmann::json({7}));
  EXPECT_EQ(h["1.weight"]["shape"], nlohmann::json({7}));
  EXPECT_FALSE(h.contains("2.bias"));
  EXPECT_EQ(h["8.weight"]["shape"], nlohmann::json({1, 3}));
  const std::string raw = bytes_of(path("m.safetensors"));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ((8 + n) % 8, 0u);  // the data stays 8-byte aligned: the header is space-padded
}

// A kind's spec with every argument it has off its default, so that one the file or the bridge
// dropped would show. A new kind with arguments needs its case here (else its arguments are
// asked of a spec without them, and the test throws).
LayerSpec off_defaults(LayerKind kind) {
  switch (kind) {
    case LayerKind::Dense: return nn::dense(3, Init::HeUniform, false);
    case LayerKind::LeakyReLU: return nn::leaky_relu(0.2f);
    case LayerKind::RReLU: return nn::rrelu(0.05f, 0.4f);
    case LayerKind::PReLU: return nn::prelu(true, 0.1f);
    case LayerKind::ELU: return nn::elu(0.7f);
    case LayerKind::BatchNorm: return nn::batch_norm(1e-3f, 0.3f);
    case LayerKind::Dropout: return nn::dropout(0.25f);
    default: return LayerSpec{.kind = kind, .args = {}};
  }
}

// Every registered kind, first in a model and between two Dense layers: through the model file,
// and through PyTorch (the bridge to TorchScript and back), it computes the same outputs.
TEST_F(Checkpoint, EveryRegisteredLayerKindRoundTripsThroughTheFileAndPyTorch) {
  Tensor x(4, 3);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.37f * static_cast<float>(i) - 1.9f;
  std::vector<std::string> files;
  std::vector<Tensor> outputs;
  for (const LayerKindInfo& k : layer_kinds()) {
    const LayerSpec spec = off_defaults(k.kind);
    for (const bool first : {false, true}) {
      std::vector<LayerSpec> layers = {spec, nn::dense(2)};
      if (!first) layers.insert(layers.begin(), nn::dense(3));
      Sequential m(3, layers, 11);
      const std::string file = path(fmt::format("{}{}.safetensors", k.name, first ? "_first" : ""));
      save_model(file, m, {});
      Tensor want, got;
      predict(m, x, want);
      ModelFile back = load_model(file);
      EXPECT_EQ(architecture_json(*back.model), architecture_json(m)) << k.name;
      predict(*back.model, x, got);
      for (std::size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << k.name << " " << i;
      files.push_back(file);
      outputs.push_back(want);
    }
  }
  EXPECT_EQ(files.size(), 2 * layer_kinds().size());
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0)
    GTEST_FAIL() << "python3-torch is not installed: the PyTorch half of this test did not run (scripts/test.sh installs it)";
  std::string cmd = "/usr/bin/python3 -c 'import sys; sys.path.insert(0, \"" GRADFLOW_SOURCE_DIR "/tools\")\n"
                    "import torch_bridge as b\nfor f in sys.argv[1:]:\n"
                    "    b.export_file(f, f + \".pt\"); b.import_file(f + \".pt\", f + \".back\")' ";
  for (const auto& f : files) cmd += " " + f;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (std::size_t i = 0; i < files.size(); ++i) {
    ModelFile back = load_model(files[i] + ".back");
    Tensor got;
    predict(*back.model, x, got);
    for (std::size_t j = 0; j < got.size(); ++j) ASSERT_EQ(got[j], outputs[i][j]) << files[i] << " " << j;
  }
}

TEST_F(Checkpoint, SavingIsAtomicAndLeavesNoTemporaryFiles) {
  Sequential m = make_model();
  save_model(path("m.safetensors"), m);
  save_model(path("m.safetensors"), m);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  EXPECT_THROW(save_model(path("no/such/folder/m.safetensors"), m), std::runtime_error);
}

// A log line cut short by a full disk is taken back: the file ends in whole lines. The disk is
// played by RLIMIT_FSIZE, under which a write past the limit writes up to it and stops.
TEST_F(Checkpoint, AnAppendedLineIsWrittenWholeOrNotAtAll) {
  const std::string log = path("metrics.jsonl");
  append_line(log, "{\"epoch\": 1}");
  const std::string before = bytes_of(log);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);
  rlimit tight = old;
  tight.rlim_cur = before.size() + 5;  // room for 5 of the next line's bytes
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  EXPECT_THROW(append_line(log, "{\"epoch\": 2, \"train_loss\": 0.5}"), std::runtime_error);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, previous);
  EXPECT_EQ(bytes_of(log), before);
  append_line(log, "{\"epoch\": 2}");
  EXPECT_EQ(bytes_of(log), before + "{\"epoch\": 2}\n");
}

TEST_F(Checkpoint, RejectsTruncatedAndCorruptFiles) {
  Sequential m = make_model();
  save_model(path("m.safetensors"), m);
  const std::string good = bytes_of(path("m.safetensors"));
  expect_rejected(good.substr(0, 5), "expected an 8-byte header length");
  expect_rejected(good.substr(0, 100), "exceeds the file");
  expect_rejected(good.substr(0, good.size() - 4), "outside the");
  std::string broken = good;
  broken[9] = '!';
  expect_rejected(broken, "not valid JSON");
}

TEST_F(Checkpoint, RejectsHostileHeaders) {
  Sequential m = make_model();
  save_model(path("m.safetensors"), m);
  auto [h, data] = parts(path("m.safetensors"));
  std::string huge(8, '\xff');
  expect_rejected(huge + "{}", "header length");
  {
    auto x = h;
    x["0.weight"]["dtype"] = "F64";
    expect_rejected(assemble(x, data), "dtype \"F64\"");
  }
  {
    auto x = h;
    x["0.weight"]["shape"] = {5, 7};
    expect_rejected(assemble(x, data), "has shape [5,7], layer 0 (Dense(5→7)) needs [7,5]");
  }
  {
    auto x = h;
    x["0.weight"]["data_offsets"] = {0, 1u << 30};
    expect_rejected(assemble(x, data), "outside the");
  }
  {
    auto x = h;
    x["0.bias"]["data_offsets"] = x["0.weight"]["data_offsets"];
    expect_rejected(assemble(x, data), "overlap");
  }
  {
    auto x = h;
    x.erase("4.bias");
    expect_rejected(assemble(x, data), "missing tensor '4.bias'");
  }
  {
    auto x = h;
    x["__metadata__"]["gradflow.architecture"] = R"([{"type": "Linear", "in_features": 5, "out_features": 99999999999}])";
    expect_rejected(assemble(x, data), "not a valid size");
  }
  {
    auto x = h;
    x["__metadata__"]["gradflow.architecture"] = R"([{"type": "Linear", "in_features": 5, "out_features": 7}, {"type": "Conv2d"}])";
    expect_rejected(assemble(x, data), "layer 1: unknown layer type 'Conv2d'");
  }
  {
    auto x = h;
    x["__metadata__"].erase("gradflow.architecture");
    expect_rejected(assemble(x, data), "no gradflow.architecture");
  }
  {
    auto x = h;
    x["7.weight"] = x["0.bias"];
    expect_rejected(assemble(x, data), "overlap");
  }
}

// Files found by the audit of issue #13: each made the loader allocate gigabytes, overflow a
// buffer or the stack, or accept values that make every prediction NaN.
TEST_F(Checkpoint, RejectsHostileMetadataBeforeAllocating) {
  Sequential m = make_model();
  save_model(path("m.safetensors"), m, {.input = Standardizer{{1, 2, 3, 4, 5}, {1, 1, 1, 1, 1}}});
  auto [h, data] = parts(path("m.safetensors"));
  {  // 200 × BatchNorm1d(10⁷) in a 21 KB file: 32 GB of layers.
    nlohmann::json arch = nlohmann::json::array();
    arch.push_back({{"type", "BatchNorm1d"}, {"num_features", 10000000}, {"eps", 1e-5}, {"momentum", 0.1}});
    for (int i = 0; i < 199; ++i) arch.push_back(arch[0]);
    auto x = h;
    x["__metadata__"].erase("gradflow.input");
    x["__metadata__"]["gradflow.architecture"] = arch.dump();
    expect_rejected(assemble(x, data), "the architecture needs 32000001600 bytes of tensors but the file holds");
  }
  {  // Linear 5→20000→20000→2: 1.6 GB of weights described in a few bytes.
    auto x = h;
    x["__metadata__"].erase("gradflow.input");
    x["__metadata__"]["gradflow.architecture"] =
        R"([{"type":"Linear","in_features":5,"out_features":20000},{"type":"Linear","in_features":20000,"out_features":20000},)"
        R"({"type":"Linear","in_features":20000,"out_features":2}])";
    expect_rejected(assemble(x, data), "the architecture needs");
  }
  {  // Input statistics without "std" (read past the end of a const json before).
    auto x = h;
    x["__metadata__"]["gradflow.input"] = R"({"features": 5, "mean": [1, 2, 3, 4, 5]})";
    expect_rejected(assemble(x, data), "bad metadata");
  }
  {  // A mean of 1e39 is infinite as a float: every prediction would be NaN.
    auto x = h;
    x["__metadata__"]["gradflow.input"] = R"({"features": 5, "mean": [1e39, 2, 3, 4, 5], "std": [1, 1, 1, 1, 1]})";
    expect_rejected(assemble(x, data), "input feature 0: mean inf");
  }
  for (const char* where : {"architecture", "input", "dtype"}) {  // 100k nested '[' overflowed the stack
    auto x = h;
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    if (std::string(where) == "architecture") x["__metadata__"]["gradflow.architecture"] = deep;
    if (std::string(where) == "input") x["__metadata__"]["gradflow.input"] = deep;
    std::string bytes = assemble(x, data);
    if (std::string(where) == "dtype") {
      const std::string hs = x.dump();
      const std::size_t at = hs.find("\"F32\"");
      const std::string nested = hs.substr(0, at) + deep + hs.substr(at + 5);
      bytes = std::string(8, '\0');
      for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((nested.size() >> (8 * i)) & 0xff);
      bytes += nested + data;
    }
    expect_rejected(bytes, "JSON nested deeper than 64 levels");
  }
}

TEST_F(Checkpoint, OptimizerStateMustHoldExactlyOneFloatPerParameter) {
  Sequential m = make_model();
  Tensor moment(1, m.num_params());
  save_model(path("m.safetensors"), m, {.tensors = {{"optimizer.adam.m", &moment}}});
  EXPECT_EQ(load_model(path("m.safetensors")).tensors.count("optimizer.adam.m"), 1u);
  auto [h, data] = parts(path("m.safetensors"));
  // 4·count + 3 bytes used to be read into count floats: a heap overflow.
  auto x = h;
  std::uint64_t end = x["optimizer.adam.m"]["data_offsets"][1];
  x["optimizer.adam.m"]["data_offsets"][1] = end + 3;
  expect_rejected(assemble(x, data + "abc"), "one value per parameter");
}

}  // namespace
}  // namespace gradflow
