// Model (src/io/model.cpp): the whole function from raw input to answer, as one value —
// its steps kept through every format, its inputs checked, its answers finite.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <unistd.h>

#include "gradflow/gradflow.h"
#include "gradflow/onnx.h"

namespace gradflow {
namespace {

// A classifier trained on features in [0, 255] with the CLI's steps: imputation, standardization,
// the training range.
Model trained_model() {
  Dataset d = synthetic::spirals(200, 2, 0.1f, 1);
  for (std::size_t i = 0; i < d.x.size(); ++i) d.x[i] = 100 + 50 * d.x[i];
  ModelInfo info;
  info.range = InputRange::fit(d.x);
  info.impute = Imputer::fit(d.x, "mean");
  info.input = Standardizer::fit(d.x);
  info.class_names = {"in", "out"};
  info.feature_names = {"a", "b"};
  info.loss = "cross_entropy";
  auto net = std::make_shared<Sequential>(
      2, std::vector<LayerSpec>{nn::dense(16), nn::batch_norm(), nn::relu(), nn::dense(2), nn::softmax()}, 3);
  Dataset prepared = d;
  info.input.apply(prepared.x);
  Loss ce(LossKind::CrossEntropy);
  Adam adam({.lr = 0.01});
  Trainer(*net, ce, adam, {.epochs = 3, .batch_size = 32}).fit(prepared);
  return Model(net, info);
}

Tensor raw_rows() {
  Tensor x(5, 2);
  const float v[] = {100, 120, 80, 140, 150, 60, 110, 105, 90, 95};
  std::memcpy(x.data(), v, sizeof v);
  return x;
}

void expect_same_bits(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(Model, PredictAppliesEveryStepTheNetworkWasTrainedBehind) {
  const Model m = trained_model();
  Tensor x = raw_rows(), want;
  m.info.input.apply(x);
  predict_rows(*m.network, x, want);
  Tensor got;
  m.predict(raw_rows(), got);
  expect_same_bits(got, want);
}

TEST(Model, EveryFormatKeepsEveryStepAndTheAnswers) {
  const Model m = trained_model();
  Tensor want;
  m.predict(raw_rows(), want);
  const auto dir = std::filesystem::temp_directory_path() / ("gradflow_model_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  save_model((dir / "m.safetensors").string(), m);
  save_onnx((dir / "m.onnx").string(), *m.network, m.info);
  for (const Model& back : {read_model((dir / "m.safetensors").string()), read_model((dir / "m.onnx").string()),
                            Model(deserialize_model(serialize_model(m)))}) {
    EXPECT_EQ(back.info.input.mean, m.info.input.mean);
    EXPECT_EQ(back.info.impute.fill, m.info.impute.fill);
    EXPECT_EQ(back.info.range.min, m.info.range.min);
    EXPECT_EQ(back.info.range.max, m.info.range.max);
    EXPECT_EQ(back.info.class_names, m.info.class_names);
    Tensor got;
    back.predict(raw_rows(), got);
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  }
  std::filesystem::remove_all(dir);
  // Bytes are the file, exactly.
  const Model again(deserialize_model(serialize_model(m)));
  Tensor got;
  again.predict(raw_rows(), got);
  expect_same_bits(got, want);
}

TEST(Model, MissingValuesAreFilledAndOtherNonFiniteInputsNamed) {
  Model m = trained_model();
  Tensor x = raw_rows();
  x(1, 0) = std::numeric_limits<float>::quiet_NaN();
  Tensor out;
  m.predict(x, out);  // filled with the training mean
  x(2, 1) = std::numeric_limits<float>::infinity();
  try {
    m.predict(x, out);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "sample 2, feature 1 is inf (expected a finite number)");
  }
  m.info.impute = {};
  x(2, 1) = 1;
  try {
    m.predict(x, out);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sample 1, feature 0 is nan"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--impute"), std::string::npos) << e.what();
  }
}

TEST(Model, AnOutputThatIsNotFiniteIsAnErrorNamingTheRow) {
  Model m = trained_model();
  Tensor x = raw_rows(), out;
  m.network->parameters().fill(1e38f);  // finite weights whose products overflow
  try {
    m.predict(x, out);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("predict: row 0 gives output 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("largest |weight| 1e+38"), std::string::npos) << e.what();
  }
}

TEST(Model, InputsFarOutsideTheTrainingRangeAreFlagged) {
  const Model m = trained_model();
  EXPECT_EQ(m.check_inputs(raw_rows()), "");
  Tensor x = raw_rows();
  x(3, 1) = 5000;
  const std::string w = m.check_inputs(x);
  EXPECT_NE(w.find("1 of 10 values are far outside the training data's range, in 1 of 2 features: 'b' 5000"), std::string::npos) << w;
}

TEST(Model, PredictBuffersFollowTheRowsNotTheBatchSize) {
  const Model m = trained_model();
  Tensor a, b;
  m.predict(raw_rows(), a, std::numeric_limits<std::size_t>::max());  // would be 2^64 rows of padding
  m.predict(raw_rows(), b, kMaxPredictBatch);
  expect_same_bits(a, b);
}

TEST(MemoryLimit, ANetworkTooLargeForTheMachineIsRefusedBeforeItIsAllocated) {
  EXPECT_THROW(Sequential(2, {nn::dense(std::size_t{1} << 40), nn::relu(), nn::dense(2)}), MemoryLimitError);
  EXPECT_THROW(check_training_memory(784, {nn::dense(std::size_t{1} << 34)}, 128), MemoryLimitError);
  EXPECT_NO_THROW(check_training_memory(784, {nn::dense(512), nn::relu(), nn::dense(10)}, 128));
}

}  // namespace
}  // namespace gradflow
