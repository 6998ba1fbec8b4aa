// The hidden part of a multilayer perceptron as blocks: each block is
//
//   Dense(units, init) [→ BatchNorm1d] → activation [→ Dropout(p)]
//
// (BatchNorm between the Dense and its activation: Ioffe & Szegedy normalize the
// pre-activation). `gradflow train --layers`, the scikit-learn estimators, the studies and the
// tests build their networks with nn::mlp; a block is also what transfer learning freezes
// (count_blocks: a Dense with the layers after it up to the next Dense).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "gradflow/layer.h"

namespace gradflow::nn {

struct Block {
  std::size_t units = 0;
  LayerSpec activation = relu();
  bool batch_norm = false;
  float dropout = 0;  // in [0, 1); 0: no Dropout layer
  Init init = Init::Default;
  friend bool operator==(const Block&, const Block&) = default;
};

// The layers of the blocks, in order. Throws std::invalid_argument for 0 units, an activation
// that is not one, or a dropout rate outside [0, 1).
std::vector<LayerSpec> mlp(std::span<const Block> blocks);

// The blocks that `layers` are, when nn::mlp builds exactly them (nullopt otherwise: a layer
// outside any block, a block in another order).
std::optional<std::vector<Block>> blocks_of(std::span<const LayerSpec> layers);

}  // namespace gradflow::nn
