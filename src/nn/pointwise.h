// Internal: the element-wise activations as kernels over a range of columns, so that a Dense
// layer can apply its activation to the slice of output it just computed, while the slice is in
// cache (the "epilogue"), and so that every thread works on the same columns from the product
// through the activation and back. Formulas: gradflow/activations.h. Each op is registered
// with its kind in layer_kinds.cpp.
#pragma once

#include <algorithm>
#include <cstddef>

#include "gradflow/activations.h"
#include "gradflow/layer.h"
#include "gradflow/tensor.h"

#include "core/parallel.h"
#include "core/vmath.h"

namespace gradflow::pointwise {

// What an activation needs of a transcendental function, computed for a whole run of values at
// once (core/vmath.h: SLEEF's vector functions, as PyTorch's kernels use) before f combines it.
enum class Pre { None, NegExp, Expm1, Tanh };  // t = —, e^−x, e^x − 1, tanh x

// The point-wise activations as pairs y = f(x, t) (t = the op's Pre of x) and dx = g(dy, x, y),
// built from their spec.
struct IdentityOp {
  static constexpr Pre kPre = Pre::None;
  explicit IdentityOp(const LayerSpec&) {}
  float f(float v, float) const { return v; }
  float g(float d, float, float) const { return d; }
};
struct SigmoidOp {
  // 1 / (1 + e^−x), as PyTorch's sigmoid kernel computes it.
  static constexpr Pre kPre = Pre::NegExp;
  explicit SigmoidOp(const LayerSpec&) {}
  float f(float, float t) const { return 1.0f / (1.0f + t); }
  float g(float d, float, float s) const { return d * s * (1.0f - s); }
};
struct TanhOp {
  static constexpr Pre kPre = Pre::Tanh;
  explicit TanhOp(const LayerSpec&) {}
  float f(float, float t) const { return t; }
  float g(float d, float, float t) const { return d * (1.0f - t * t); }
};
struct ReluOp {
  static constexpr Pre kPre = Pre::None;
  explicit ReluOp(const LayerSpec&) {}
  float f(float v, float) const { return v > 0.0f ? v : 0.0f; }
  // Gate on the output, as PyTorch's threshold_backward does: y > 0 exactly when x > 0.
  float g(float d, float, float r) const { return r > 0.0f ? d : 0.0f; }
};
struct LeakyReluOp {
  static constexpr Pre kPre = Pre::None;
  float s;
  explicit LeakyReluOp(const LayerSpec& spec) : s(spec.leaky_relu().negative_slope) {}
  float f(float v, float) const { return v > 0.0f ? v : v * s; }
  float g(float d, float v, float) const { return v > 0.0f ? d : d * s; }
};
struct EluOp {
  static constexpr Pre kPre = Pre::Expm1;
  float alpha;
  explicit EluOp(const LayerSpec& spec) : alpha(spec.elu().alpha) {}
  float f(float v, float t) const { return v > 0.0f ? v : alpha * t; }
  float g(float d, float v, float e) const { return v > 0.0f ? d : d * (e + alpha); }
};
struct SeluOp {
  static constexpr Pre kPre = Pre::Expm1;
  float scale = static_cast<float>(kSeluScale);
  float sa = static_cast<float>(kSeluScale * kSeluAlpha);
  explicit SeluOp(const LayerSpec&) {}
  float f(float v, float t) const { return v > 0.0f ? scale * v : sa * t; }
  float g(float d, float v, float s) const { return v > 0.0f ? d * scale : d * (s + sa); }
};

// t[i] = P(x[i]) for i < n.
template <Pre P>
void pre(const float* x, float* t, std::size_t n) {
  if constexpr (P == Pre::NegExp) {
    for (std::size_t i = 0; i < n; ++i) t[i] = -x[i];
    vmath::exp(t, t, n);
  } else if constexpr (P == Pre::Expm1) {
    vmath::expm1(x, t, n);
  } else if constexpr (P == Pre::Tanh) {
    vmath::tanh(x, t, n);
  }
}

// y[r, c] = f(x[r, c]) for r in `rows` and c in `cols` = [c0, c1): the transcendental part a
// run of up to kRun values at a time into a buffer on the stack (in L1; y may be x), then a plain
// loop the compiler vectorizes.
template <class Op>
void forward_cols(const LayerSpec& spec, const Tensor& x, Tensor& y, parallel::Range rows, parallel::Range cols) {
  const Op op(spec);
  const std::size_t c0 = cols.begin, c1 = cols.end;
  for (std::size_t r = rows.begin; r < rows.end; ++r) {
    const float* a = x.row(r);
    float* b = y.row(r);
    if constexpr (Op::kPre == Pre::None) {
      for (std::size_t c = c0; c < c1; ++c) b[c] = op.f(a[c], 0.0f);
    } else {
      constexpr std::size_t kRun = 256;
      float t[kRun];
      for (std::size_t c = c0; c < c1; c += kRun) {
        const std::size_t n = std::min(kRun, c1 - c);
        pre<Op::kPre>(a + c, t, n);
        for (std::size_t i = 0; i < n; ++i) b[c + i] = op.f(a[c + i], t[i]);
      }
    }
  }
}
// dx[r, c] = dy[r, c] · f'(x[r, c]) (from x or y, as PyTorch does) for r in `rows`, c in `cols`.
template <class Op>
void backward_cols(const LayerSpec& spec, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
                   parallel::Range rows, parallel::Range cols) {
  const Op op(spec);
  for (std::size_t r = rows.begin; r < rows.end; ++r) {
    const float* a = x.row(r);
    const float* b = y.row(r);
    const float* d = dy.row(r);
    float* out = dx.row(r);
    for (std::size_t c = cols.begin; c < cols.end; ++c) out[c] = op.g(d[c], a[c], b[c]);
  }
}

// What forward_cols<Op> costs an element, in parallel.h's units: a select or a multiply is an
// element-wise pass; SLEEF's tanh or expm1 takes ≈20× as long (0.9 against 0.04 ns with
// AVX-512), so that a stand-alone tanh layer splits over the threads where a ReLU would not.
template <class Op>
constexpr double element_cost() {
  return (Op::kPre == Pre::None ? 1 : 16) * parallel::kElementCost;
}

// The registered kernels of a kPointwise kind (throws std::logic_error for another kind).
void forward(const LayerSpec& act, const Tensor& x, Tensor& y, parallel::Range rows, parallel::Range cols);
double forward_cost(const LayerSpec& act);  // element_cost of the kind's Op
void backward(const LayerSpec& act, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
              parallel::Range rows, parallel::Range cols);
inline bool is_pointwise(LayerKind kind) { return has_trait(kind, kPointwise); }

// out = a ⊙ b, element by element, the columns split over the threads: the backward of a layer
// that scaled each element by a factor it kept (RReLU's slopes).
inline void multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  parallel::for_range(a.cols(), parallel::kElementCost * static_cast<double>(a.rows()), [&](parallel::Range c) {
    for (std::size_t r = 0; r < a.rows(); ++r) {
      const float* x = a.row(r);
      const float* y = b.row(r);
      float* z = out.row(r);
      for (std::size_t j = c.begin; j < c.end; ++j) z[j] = x[j] * y[j];
    }
  });
}

}  // namespace gradflow::pointwise
