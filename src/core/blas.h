// Internal: the matrix products gradflow needs, as thin wrappers over CBLAS sgemm.
#pragma once

#include <cstddef>

#include "gradflow/tensor.h"

namespace gradflow::blas {

// C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(X) = Xᵀ when trans_X.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);

// y[r] += Σ_k a[r, k] x[k] for r < rows: a matrix times one vector, for a batch of one, where
// sgemm's packing and call overhead cost more than the product. Each row is summed in one
// vector of partial sums, added up in a fixed order: deterministic, and within float rounding
// of sgemm (not bit-identical to it).
void gemv_rows(std::size_t rows, std::size_t k, const float* a, std::size_t lda, const float* x,
               float* y);

}  // namespace gradflow::blas
