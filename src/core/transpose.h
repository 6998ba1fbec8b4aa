// Internal: out = inᵀ for float matrices — the Dense forward's transposed form (blas.h,
// transposed_forward) turns a batch into xᵀ, each block's zᵀ into z and the activation into aᵀ.
#pragma once

#include <cstddef>

namespace gradflow::blas {

// out[c, r] = in[r, c] for r < rows, c < cols (ldi, ldo: row strides): 16×16 blocks in AVX-512
// registers in a build for it, else libxsmm's transpose, else a plain loop.
void transpose(std::size_t rows, std::size_t cols, const float* in, std::size_t ldi, float* out,
               std::size_t ldo);

}  // namespace gradflow::blas
