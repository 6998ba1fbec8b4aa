// Transfer learning and interchange: torch-written model files, reusing layers, freezing,
// staged unfreezing.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "gradflow/gradflow.h"

namespace gradflow {
namespace {

TEST(TorchModel, LoadsAndPredictsWhatTorchPredicted) {
  const ModelFile f = load_model(GRADFLOW_GOLDEN_DIR "/torch_model.safetensors");
  const auto want = nlohmann::json::parse(std::ifstream(GRADFLOW_GOLDEN_DIR "/torch_model_expected.json"));
  ASSERT_EQ(f.model->size(), 10u);
  EXPECT_EQ(f.model->layer(1).kind(), LayerKind::BatchNorm);
  EXPECT_EQ(f.info.class_names, (std::vector<std::string>{"a", "b", "c"}));
  Tensor x(5, 6), probs;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = want["x"][i].get<float>();
  predict(*f.model, x, probs);
  ASSERT_EQ(probs.size(), want["probabilities"].size());
  for (std::size_t i = 0; i < probs.size(); ++i)
    EXPECT_NEAR(probs[i], want["probabilities"][i].get<double>(), 2e-6) << i;
}

Sequential bn_net(std::uint64_t seed, std::size_t classes = 3) {
  return Sequential(2, {nn::dense(16), nn::batch_norm(), nn::relu(), nn::dense(16), nn::batch_norm(), nn::relu(),
                        nn::dense(classes)},
                    seed);
}

TEST(Freezing, FrozenBlocksStayBitForBitTheSame) {
  Sequential net = bn_net(1, 2);
  freeze_blocks(net, 2);  // both hidden blocks, BatchNorm included
  EXPECT_FALSE(net.layer(4).trainable());
  EXPECT_TRUE(net.layer(6).trainable());
  const Sequential::State before = net.snapshot();
  Loss ce(LossKind::CrossEntropy);
  Adam adam(AdamOptions{.lr = 0.01});
  TrainOptions o{.epochs = 3, .batch_size = 16};
  Trainer(net, ce, adam, o).fit(synthetic::moons(200, 0.1f, 1));
  const Sequential::State after = net.snapshot();
  const std::size_t frozen_params = net.param_offset(6);
  for (std::size_t i = 0; i < frozen_params; ++i) ASSERT_EQ(after.params[i], before.params[i]) << i;
  for (std::size_t b = 0; b < before.buffers.size(); ++b)
    for (std::size_t i = 0; i < before.buffers[b].size(); ++i) ASSERT_EQ(after.buffers[b][i], before.buffers[b][i]);
  EXPECT_EQ(after.counters, before.counters);
  bool moved = false;
  for (std::size_t i = frozen_params; i < after.params.size(); ++i) moved |= after.params[i] != before.params[i];
  EXPECT_TRUE(moved);
}

TEST(Reuse, LowerLayersThatMatchAreCopied) {
  Sequential old_net = bn_net(1, 6), fresh = bn_net(2, 4);
  EXPECT_EQ(copy_matching_layers(fresh, old_net), 6u);  // everything up to the new output layer
  for (std::size_t i = 0; i < fresh.param_offset(6); ++i) ASSERT_EQ(fresh.parameters()[i], old_net.parameters()[i]);
  Sequential other(2, {nn::dense(16), nn::tanh(), nn::dense(4)}, 3);
  EXPECT_EQ(copy_matching_layers(other, old_net), 1u);  // the Dense matches, BatchNorm ≠ Tanh
}

TEST(StagedUnfreezing, UnfreezesFromTheTopDownOnSchedule) {
  Sequential net(2, {nn::dense(8), nn::relu(), nn::dense(8), nn::relu(), nn::dense(8), nn::relu(), nn::dense(2)}, 1);
  StagedUnfreezing stages(StagedUnfreezing::every(3, 2), 0.1);
  struct Record : Callback {
    std::vector<std::vector<bool>> seen;
    void on_epoch_begin(Trainer& t, std::size_t) override {
      std::vector<bool> row;
      for (std::size_t i = 0; i < t.model().size(); i += 2) row.push_back(t.model().layer(i).trainable());
      seen.push_back(row);
    }
  } record;
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.05);
  TrainOptions o{.epochs = 8};
  Trainer t(net, ce, sgd, o);
  t.add_callback(stages);  // runs first: the record sees each epoch's state
  t.add_callback(record);
  t.fit(synthetic::moons(100, 0.1f, 1));
  const std::vector<std::vector<bool>> want = {
      {false, false, false, true}, {false, false, false, true}, {false, false, true, true}, {false, false, true, true},
      {false, true, true, true},   {false, true, true, true},   {true, true, true, true},   {true, true, true, true}};
  EXPECT_EQ(record.seen, want);
  // Layers unfrozen later learn at a tenth of the rate; the output layer never was frozen.
  const auto& scales = sgd.layer_lr_scales();
  ASSERT_GE(scales.size(), 5u);
  EXPECT_EQ(scales[0], 0.1);
  EXPECT_EQ(scales[2], 0.1);
  EXPECT_EQ(scales[4], 0.1);
  EXPECT_TRUE(scales.size() <= 6 || scales[6] == 1.0);
}

}  // namespace
}  // namespace gradflow
