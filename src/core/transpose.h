// Internal: out = inᵀ for float matrices — the Dense forward's transposed form (blas.h,
// transposed_forward) turns a batch into xᵀ, each block's zᵀ into z and the activation into aᵀ.
#pragma once

#include <cstddef>

namespace gradflow::blas {

// out[c, r] = in[r, c] for r < rows, c < cols (ldi, ldo: row strides): 16×16 blocks in AVX-512
// registers in a build for it, else libxsmm's transpose, else a plain loop. The blocks are taken
// column block by column block, which suits the stores (each block continues the rows of out
// the block before began), or with rows_first, sixteen whole rows of `in` at a time, which suits
// an input that other cores wrote (a batch gathered by several threads): it is then read as
// sixteen long runs instead of 64-byte pieces of every row.
void transpose(std::size_t rows, std::size_t cols, const float* in, std::size_t ldi, float* out,
               std::size_t ldo, bool rows_first = false);

}  // namespace gradflow::blas
