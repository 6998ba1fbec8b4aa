#include "gradflow/mlp.h"

#include <stdexcept>

#include <fmt/format.h>

namespace gradflow::nn {

std::vector<LayerSpec> mlp(std::span<const Block> blocks) {
  std::vector<LayerSpec> layers;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    if (b.units == 0) throw std::invalid_argument(fmt::format("nn::mlp: block {} has 0 units", i));
    if (!is_activation(b.activation.kind))
      throw std::invalid_argument(fmt::format("nn::mlp: block {}'s activation is a {}, not an activation", i,
                                              to_string(b.activation.kind)));
    if (!(b.dropout >= 0 && b.dropout < 1))
      throw std::invalid_argument(fmt::format("nn::mlp: block {}'s dropout rate {} is not in [0, 1)", i, b.dropout));
    layers.push_back(dense(b.units, b.init));
    if (b.batch_norm) layers.push_back(batch_norm());
    layers.push_back(b.activation);
    if (b.dropout > 0) layers.push_back(dropout(b.dropout));
  }
  return layers;
}

std::optional<std::vector<Block>> blocks_of(std::span<const LayerSpec> layers) {
  std::vector<Block> blocks;
  for (std::size_t i = 0; i < layers.size();) {
    if (layers[i].kind != LayerKind::Dense || !layers[i].dense().bias) return std::nullopt;
    Block b{.units = layers[i].dense().units, .init = layers[i].dense().init};
    ++i;
    if (i < layers.size() && layers[i] == batch_norm()) b.batch_norm = true, ++i;
    if (i == layers.size() || !is_activation(layers[i].kind)) return std::nullopt;
    b.activation = layers[i++];
    if (i < layers.size() && layers[i].kind == LayerKind::Dropout) b.dropout = layers[i++].dropout().p;
    blocks.push_back(b);
  }
  return blocks;
}

}  // namespace gradflow::nn
