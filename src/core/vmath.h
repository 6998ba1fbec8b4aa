// Internal: exp, expm1, tanh and log1p over arrays of floats, through SLEEF's vector functions —
// the ones PyTorch's CPU kernels call (ATen's Vectorized<float>::exp/expm1/tanh/log1p are SLEEF's
// *_u10 functions, within 1.0 ulp). glibc's scalar expf/expm1f/tanhf do not vectorize under
// IEEE rules: a 784-256-tanh-128-tanh-10 step spent three quarters of its forward in tanhf.
#pragma once

#include <cstddef>

namespace gradflow::vmath {

// y[i] = e^x[i], e^x[i] − 1, tanh(x[i]), log(1 + x[i]) for i < n (y may be x). Every element
// goes through the same vector function wherever it sits (the tail through a padded vector), so
// a result never depends on how an array was split between threads or blocks.
void exp(const float* x, float* y, std::size_t n);
void expm1(const float* x, float* y, std::size_t n);
void tanh(const float* x, float* y, std::size_t n);
void log1p(const float* x, float* y, std::size_t n);

}  // namespace gradflow::vmath
