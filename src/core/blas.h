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
// result (docs/performance.md, "Small products"). Whether a batch of B rows takes that form — and its
// backward's products libxsmm's kernels too (gemm_small): oneDNN's AVX-512 sgemm in use,
// libxsmm built in and targeting AVX-512, 2 ≤ B ≤ 64 (with 128 rows the transposed forward
// gains nothing: the BN recipe), and GRADFLOW_XSMM not "0". A function of the process's setup
// and B alone, so that every step of the same shapes computes the same bits.
bool transposed_forward(std::size_t batch);

// C[m, n] = op(A)[m, k] B[k, n] + beta C (beta 0 or 1), row-major (lda, ldb, ldc), op(A) = Aᵀ
// when trans_a: libxsmm's kernels, 64 columns of C at a time (sgemm for a block libxsmm has no
// kernel for). For the products of transposed_forward's batches only — forward, dW and dx —
// so that a step makes no oneDNN call: its first one after the forward costs ≈6 µs more than
// the same call again (its code and tables gone cold), where libxsmm's kernels stay at speed.
void gemm_small(bool trans_a, std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
                const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc);

// y[r] += Σ_k a[r, k] x[k] for r < rows: a matrix times one vector, for a batch of one, where
// sgemm's packing and call overhead cost more than the product. Each row is summed in one
// vector of partial sums, added up in a fixed order: deterministic, and within float rounding
// of sgemm (not bit-identical to it).
void gemv_rows(std::size_t rows, std::size_t k, const float* a, std::size_t lda, const float* x,
               float* y);

}  // namespace gradflow::blas
