// Internal: the matrix products gradflow needs, as thin wrappers over CBLAS sgemm.
#pragma once

#include <cstddef>

#include "gradflow/tensor.h"

namespace gradflow::blas {

// C[m,n] = alpha * op(A) op(B) + beta * C, row-major; op(X) = Xᵀ when trans_X.
void gemm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);

// The Dense forward in the transposed form, Zᵀ = W·Xᵀ: cut into tiles of units (Zᵀ's rows) with
// the whole batch each, its rows are the cheap cut — oneDNN's AVX-512 sgemm runs the default
// network's first forward (128 × 784 → 512) at 218 GFLOP/s whole and 209 in 32-unit tiles, where
// Z = X·Wᵀ runs 205 whole, 194 in its 128-unit column blocks and 176 in 64-row tiles (one
// core, Zen 5; docs/history/performance-log.md, "Tiles"). The price is Xᵀ and a transpose of each tile back.
// For batches of 2–64 with libxsmm (small_products), whose JIT kernels take W [units×in] and
// Xᵀ [in×B] as they lie (≈95% of a core's FMA peak for 784→256 at batch 64, where oneDNN's
// Z = X·Wᵀ reaches 80%), and for batches of 65–256 on oneDNN's AVX-512 code (beyond, the plain
// form in 128-row tiles is faster: batch-1024 inference 690k samples/s against 510–600k on two
// threads, each of which would transpose all of X). With AVX2 the two forms run at the same
// rate, and the transposes would be a loss. A function of the process's setup and B alone, so
// that every step of the same shapes computes the same bits.
bool transposed_forward(std::size_t batch);

// Whether a batch of B rows has all its Dense products — forward, dW and dx — run by libxsmm's
// kernels (gemm_small): oneDNN's AVX-512 sgemm in use, libxsmm built in and targeting AVX-512,
// 2 ≤ B ≤ 64 (with 128 rows libxsmm gains nothing), and GRADFLOW_XSMM not "0".
bool small_products(std::size_t batch);

// C[m, n] = op(A)[m, k] B[k, n] + beta C (beta 0 or 1), row-major (lda, ldb, ldc), op(A) = Aᵀ
// when trans_a: libxsmm's kernels, 64 columns of C at a time (sgemm for a block libxsmm has no
// kernel for). For the products of small_products' batches only — forward, dW and dx —
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
