// Internal: the matrix products gradflow needs, as thin wrappers over CBLAS sgemm.
#pragma once

#include <cstddef>

#include "gradflow/tensor.h"

namespace gradflow::blas {

// C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(X) = Xᵀ when trans_X.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);

// The Dense forward in the transposed form, Zᵀ = W·Xᵀ. libxsmm's JIT kernels (column-major,
// no transposed first operand) take W [units×in] and Xᵀ [in×B] as they lie, and with AVX-512
// run the 784→256 forward of a batch of 64 at ≈95% of a core's FMA peak where oneDNN's
// Z = X·Wᵀ reaches 80% (60% for the 256→128 one); the price is Xᵀ and a transpose of the
// result (README "Small products"). Whether a batch of B rows takes that form: oneDNN's AVX-512
// sgemm in use, libxsmm built in and targeting AVX-512, 2 ≤ B ≤ 64 (with 128 rows the
// transposes cost more than the kernels gain: the BN recipe's forward 3–5% slower), and
// GRADFLOW_XSMM not "0". A function of the process's setup and B alone, so that every forward
// of the same shapes computes the same bits.
bool transposed_forward(std::size_t batch);

// c[m, n] += a[m, k] b[k, n], row-major (lda, ldb, ldc): libxsmm's kernel for the shape, or
// sgemm where libxsmm has none. For transposed_forward's products only.
void gemm_nn_acc(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
                 const float* b, std::size_t ldb, float* c, std::size_t ldc);

// y[r] += Σ_k a[r, k] x[k] for r < rows: a matrix times one vector, for a batch of one, where
// sgemm's packing and call overhead cost more than the product. Each row is summed in one
// vector of partial sums, added up in a fixed order: deterministic, and within float rounding
// of sgemm (not bit-identical to it).
void gemv_rows(std::size_t rows, std::size_t k, const float* a, std::size_t lda, const float* x,
               float* y);

}  // namespace gradflow::blas
