// nn::mlp, the block builder: Dense [→ BatchNorm] → activation [→ Dropout] per block, and its
// inverse blocks_of.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "gradflow/gradflow.h"

namespace gradflow {

TEST(Mlp, BuildsEachBlockInTheOrderBatchNormalizationNeeds) {
  const std::vector<nn::Block> blocks = {
      {.units = 16, .activation = nn::relu(), .batch_norm = true, .dropout = 0.25f, .init = Init::HeUniform},
      {.units = 8, .activation = nn::tanh()}};
  const std::vector<LayerSpec> want = {nn::dense(16, Init::HeUniform), nn::batch_norm(), nn::relu(),
                                       nn::dropout(0.25f), nn::dense(8), nn::tanh()};
  EXPECT_EQ(nn::mlp(blocks), want);
  EXPECT_EQ(nn::blocks_of(want), blocks);
  EXPECT_EQ(nn::blocks_of(std::vector<LayerSpec>{}), std::vector<nn::Block>{});
  // Not blocks: a layer before the first Dense, an activation missing, BatchNorm after the activation.
  EXPECT_FALSE(nn::blocks_of(std::vector{nn::batch_norm(), nn::dense(4), nn::relu()}));
  EXPECT_FALSE(nn::blocks_of(std::vector{nn::dense(4), nn::dense(4), nn::relu()}));
  EXPECT_FALSE(nn::blocks_of(std::vector{nn::dense(4), nn::relu(), nn::batch_norm()}));
  // A block is what transfer learning freezes.
  EXPECT_EQ(count_blocks(Sequential(3, nn::mlp(blocks), 1)), 2u);
}

TEST(Mlp, RefusesWhatIsNotABlock) {
  EXPECT_THROW(nn::mlp(std::vector{nn::Block{.units = 0}}), std::invalid_argument);
  EXPECT_THROW(nn::mlp(std::vector{nn::Block{.units = 4, .activation = nn::dropout()}}), std::invalid_argument);
  EXPECT_THROW(nn::mlp(std::vector{nn::Block{.units = 4, .dropout = 1.0f}}), std::invalid_argument);
}

}  // namespace gradflow
