// Internal: the matrix products gradflow needs, as thin wrappers over CBLAS sgemm.
#pragma once

#include <cstddef>

#include "gradflow/tensor.h"

namespace gradflow::blas {

// C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(X) = Xᵀ when trans_X.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);

}  // namespace gradflow::blas
