// Internal: the element-wise activations as kernels over a range of columns, so that a Dense
// layer can apply its activation to the slice of output it just computed, while the slice is in
// cache (the "epilogue"), and so that every thread works on the same columns from the product
// through the activation and back. Formulas: gradflow/activations.h.
#pragma once

#include <cstddef>

#include "gradflow/layer.h"
#include "gradflow/tensor.h"

namespace gradflow::pointwise {

// Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, SELU: y depends on x alone, no parameters and
// no randomness. (RReLU draws noise in order, PReLU has parameters, Softmax works on rows.)
bool is_pointwise(LayerKind kind);

// y[r, c] = f(x[r, c]) for every row r and c in [c0, c1).
void forward(const LayerSpec& act, const Tensor& x, Tensor& y, std::size_t c0, std::size_t c1);
// dx[r, c] = dy[r, c] · f'(x[r, c]) (from x or y, as PyTorch does) for c in [c0, c1).
void backward(const LayerSpec& act, const Tensor& x, const Tensor& y, const Tensor& dy,
              Tensor& dx, std::size_t c0, std::size_t c1);

}  // namespace gradflow::pointwise
