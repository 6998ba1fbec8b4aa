#include "gradflow/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/dropout.h"

#include "core/parallel.h"
#include "nn/pointwise.h"

namespace gradflow {

std::string BatchNorm::name() const { return fmt::format("BatchNorm({})", out_); }

BatchNorm::BatchNorm(const LayerSpec& spec, std::size_t features)
    : Layer(spec, features, features), running_mean_(1, features), running_var_(1, features),
      mean_(1, features), invstd_(1, features) {
  if (!(spec.batch_norm().eps > 0) || !(spec.batch_norm().momentum >= 0 && spec.batch_norm().momentum <= 1))
    throw std::invalid_argument(fmt::format("BatchNorm({}): eps must be positive and momentum in [0, 1] (got {}, {})",
                                            features, spec.batch_norm().eps, spec.batch_norm().momentum));
  running_var_.fill(1.0f);
  acc_a_.resize(features);
  acc_b_.resize(features);
  scratch_.resize(2 * features);
}

std::vector<ParamShape> BatchNorm::param_shapes() const {
  return {{"weight", 1, in_, true}, {"bias", 1, in_, true}};
}

void BatchNorm::init(Rng&) {
  params_[0].fill(1.0f);
  params_[1].zero();
  running_mean_.zero();
  running_var_.fill(1.0f);
  num_batches_ = 0;
}

std::vector<std::pair<std::string, Tensor*>> BatchNorm::buffers() {
  return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
}

// Every statistic here is per feature, so the work splits over threads by features (the same
// split as the Dense product before it), and each feature's sums keep their order. Synchronized,
// the phases run one after the other with the sums exchanged in between; alone, each thread
// runs all phases on its features.
void BatchNorm::forward_impl(const Tensor& x, Tensor& y, Mode mode, Rng&) {
  const std::size_t B = x.rows();
  start_forward(B, mode);
  const double cost = 3 * parallel::kElementCost * static_cast<double>(B);
  if (last_training_ && sync_) {
    parallel::for_range(in_, cost, [&](parallel::Range f) { sum_x(x, f.begin, f.end); });
    sync_buf_.assign(acc_a_.begin(), acc_a_.end());
    sync_buf_.push_back(static_cast<double>(B));
    sync_->sum(sync_buf_.data(), in_ + 1);
    batch_rows_ = sync_buf_[in_];
    if (batch_rows_ < 2)
      throw std::invalid_argument(fmt::format("{}: training needs more than 1 sample per batch, got {}", name(),
                                              batch_rows_));
    for (std::size_t j = 0; j < in_; ++j) acc_a_[j] = sync_buf_[j] / batch_rows_;
    parallel::for_range(in_, cost, [&](parallel::Range f) { sum_squares(x, f.begin, f.end); });
    sync_->sum(acc_b_.data(), in_);
    parallel::for_range(in_, cost, [&](parallel::Range f) {
      finish_statistics(f.begin, f.end);
      coefficients(f.begin, f.end);
      normalize(x, y, 0, B, f.begin, f.end);
    });
    return;
  }
  parallel::for_range(in_, cost, [&](parallel::Range f) {
    statistics(x, f.begin, f.end);
    coefficients(f.begin, f.end);
    normalize(x, y, 0, B, f.begin, f.end);
  });
}

namespace {
// The fused passes go through the batch this many rows at a time, so that what one step writes
// the next reads from L1 (8 rows of 512 features: 16 KB).
constexpr std::size_t kRowBlock = 8;
}  // namespace

void BatchNorm::forward_fused(const Tensor& x, Tensor& y, const Followers& next, Mode mode, Rng& rng) {
  if (sync_) throw std::logic_error(fmt::format("{}: forward_fused while synchronized", name()));
  check_input(x);
  const std::size_t B = x.rows();
  y.resize(B, in_);
  next.a.resize(B, in_);
  if (next.dropout) {
    next.d->resize(B, in_);
    next.dropout->begin(next.a, mode, rng);
  }
  start_forward(B, mode);
  const double cost = ((next.dropout ? 5 : 3) * parallel::kElementCost + pointwise::forward_cost(next.act)) *
                      static_cast<double>(B);
  parallel::for_range(in_, cost, [&](parallel::Range f) {
    statistics(x, f.begin, f.end);
    coefficients(f.begin, f.end);
    for (std::size_t r = 0; r < B; r += kRowBlock) {
      const std::size_t r1 = std::min(B, r + kRowBlock);
      normalize(x, y, r, r1, f.begin, f.end);
      pointwise::forward(next.act, y, next.a, {r, r1}, f);
      if (next.dropout) next.dropout->apply(next.a, *next.d, r, r1, f.begin, f.end);
    }
  });
}

// Whether this forward normalizes with batch statistics, and its checks.
void BatchNorm::start_forward(std::size_t rows, Mode mode) {
  // A frozen BatchNorm normalizes with its running statistics and keeps them (Keras' rule for
  // fine-tuning): freezing means the layer computes exactly what it did.
  last_training_ = mode == Mode::Train && trainable_;
  if (last_training_) {
    if (rows < 2 && !sync_)
      throw std::invalid_argument(fmt::format(
          "{}: training needs more than 1 sample per batch, got {} (the batch variance is undefined)", name(), rows));
    ++num_batches_;
  }
  batch_rows_ = static_cast<double>(rows);
}

// μ and invstd of features [j0, j1) from this process's batch alone (or the running ones).
void BatchNorm::statistics(const Tensor& x, std::size_t j0, std::size_t j1) {
  if (last_training_) {
    sum_x(x, j0, j1);
    for (std::size_t j = j0; j < j1; ++j) acc_a_[j] /= batch_rows_;
    sum_squares(x, j0, j1);
  }
  finish_statistics(j0, j1);
}

// acc_a_ ← Σ_b x (two passes in double: the sum, then Σ (x − μ)²).
void BatchNorm::sum_x(const Tensor& x, std::size_t j0, std::size_t j1) {
  std::fill(acc_a_.begin() + j0, acc_a_.begin() + j1, 0.0);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row(r);
    for (std::size_t j = j0; j < j1; ++j) acc_a_[j] += xr[j];
  }
}

// acc_b_ ← Σ_b (x − μ)², μ in acc_a_.
void BatchNorm::sum_squares(const Tensor& x, std::size_t j0, std::size_t j1) {
  std::fill(acc_b_.begin() + j0, acc_b_.begin() + j1, 0.0);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const float* xr = x.row(r);
    for (std::size_t j = j0; j < j1; ++j) {
      const double d = xr[j] - acc_a_[j];
      acc_b_[j] += d * d;
    }
  }
}

// μ and 1/√(σ² + ε) to normalize with (and the running statistics, in training).
void BatchNorm::finish_statistics(std::size_t j0, std::size_t j1) {
  if (last_training_) {
    const float m = spec_.batch_norm().momentum;
    const double B = batch_rows_;
    for (std::size_t j = j0; j < j1; ++j) {
      const double var = acc_b_[j] / B;
      mean_[j] = static_cast<float>(acc_a_[j]);
      invstd_[j] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(spec_.batch_norm().eps)));
      running_mean_[j] = (1 - m) * running_mean_[j] + m * static_cast<float>(acc_a_[j]);
      running_var_[j] = (1 - m) * running_var_[j] + m * static_cast<float>(acc_b_[j] / (B - 1));
    }
  } else {
    for (std::size_t j = j0; j < j1; ++j) {
      mean_[j] = running_mean_[j];
      invstd_[j] = 1.0f / std::sqrt(running_var_[j] + spec_.batch_norm().eps);
    }
  }
}

// α = γ·invstd and β' = β − μ·α, so that y = x·α + β' is one multiply-add per element.
void BatchNorm::coefficients(std::size_t j0, std::size_t j1) {
  coefficients(mean_.data(), invstd_.data(), acc_alpha(), acc_shift(), j0, j1);
}

void BatchNorm::coefficients(const float* mean, const float* invstd, float* alpha, float* shift, std::size_t j0,
                             std::size_t j1) const {
  const float* g = params_[0].data();
  const float* b = params_[1].data();
  for (std::size_t j = j0; j < j1; ++j) {
    alpha[j] = g[j] * invstd[j];
    shift[j] = b[j] - mean[j] * alpha[j];
  }
}

// The evaluation forward's statistics as finish_statistics computes them, then its coefficients
// and normalization: the same bits as forward(Mode::Eval), with nothing written but y.
void BatchNorm::evaluate_impl(const Tensor& x, Tensor& y) const {
  std::vector<float> buf(4 * in_);
  float *mean = buf.data(), *invstd = mean + in_, *alpha = invstd + in_, *shift = alpha + in_;
  parallel::for_range(in_, 3 * parallel::kElementCost * static_cast<double>(x.rows()), [&](parallel::Range f) {
    for (std::size_t j = f.begin; j < f.end; ++j) {
      mean[j] = running_mean_[j];
      invstd[j] = 1.0f / std::sqrt(running_var_[j] + spec_.batch_norm().eps);
    }
    coefficients(mean, invstd, alpha, shift, f.begin, f.end);
    normalize(alpha, shift, x, y, 0, x.rows(), f.begin, f.end);
  });
}

void BatchNorm::normalize(const Tensor& x, Tensor& y, std::size_t r0, std::size_t r1, std::size_t j0,
                          std::size_t j1) {
  normalize(acc_alpha(), acc_shift(), x, y, r0, r1, j0, j1);
}

void BatchNorm::normalize(const float* alpha, const float* shift, const Tensor& x, Tensor& y, std::size_t r0,
                          std::size_t r1, std::size_t j0, std::size_t j1) {
  for (std::size_t r = r0; r < r1; ++r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (std::size_t j = j0; j < j1; ++j) yr[j] = xr[j] * alpha[j] + shift[j];
  }
}

void BatchNorm::backward_impl(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, bool param_grads) {
  const double cost = 3 * parallel::kElementCost * static_cast<double>(x.rows());
  if (!(sync_ && last_training_)) {
    parallel::for_range(in_, cost, [&](parallel::Range f) {
      gradient_sums(x, dy, param_grads, f.begin, f.end);
      if (dx) input_gradient(x, dy, *dx, f.begin, f.end);
    });
    return;
  }
  // Synchronized: dy on each process is the gradient of its slice's mean loss; the whole
  // batch's sums are Σ over processes of (rows/B)·(the slice's sums), and dividing them by the
  // slice's rows in input_gradient gives dx in the same units as dy.
  parallel::for_range(in_, cost, [&](parallel::Range f) { gradient_sums(x, dy, param_grads, f.begin, f.end); });
  if (!dx) return;
  const double share = static_cast<double>(x.rows()) / batch_rows_;
  sync_buf_.resize(2 * in_);
  for (std::size_t j = 0; j < in_; ++j) sync_buf_[j] = acc_a_[j] * share, sync_buf_[in_ + j] = acc_b_[j] * share;
  sync_->sum(sync_buf_.data(), 2 * in_);
  std::copy(sync_buf_.begin(), sync_buf_.begin() + static_cast<std::ptrdiff_t>(in_), acc_a_.begin());
  std::copy(sync_buf_.begin() + static_cast<std::ptrdiff_t>(in_), sync_buf_.end(), acc_b_.begin());
  parallel::for_range(in_, cost, [&](parallel::Range f) { input_gradient(x, dy, *dx, f.begin, f.end); });
}

void BatchNorm::backward_fused(const Tensor& x, const Tensor& y, const Followers& next, const Tensor& g, Tensor& dy,
                               Tensor* dx) {
  if (sync_) throw std::logic_error(fmt::format("{}: backward_fused while synchronized", name()));
  check_output_grad(x, g);
  const std::size_t B = x.rows();
  dy.resize(B, in_);
  if (dx) dx->resize(B, in_);
  // With a dropout, ∂L/∂a goes into dy's rows and the activation's backward turns it into ∂L/∂y
  // in place: one tensor written instead of two.
  const Tensor& act_grad = next.dropout ? dy : g;
  const double cost = (next.dropout ? 5 : 4) * parallel::kElementCost * static_cast<double>(B);
  parallel::for_range(in_, cost, [&](parallel::Range f) {
    zero_sums(f.begin, f.end);
    for (std::size_t r = 0; r < B; r += kRowBlock) {
      const std::size_t r1 = std::min(B, r + kRowBlock);
      if (next.dropout) next.dropout->gradient(g, dy, r, r1, f.begin, f.end);
      pointwise::backward(next.act, y, next.a, act_grad, dy, {r, r1}, f);
      add_gradient_sums(x, dy, r, r1, f.begin, f.end);
    }
    if (trainable_) store_param_grads(f.begin, f.end);
    if (dx) input_gradient(x, dy, *dx, f.begin, f.end);
  });
}

// Σ dy and Σ dy·x̂ per feature into acc_a_, acc_b_ (x̂ recomputed from x, μ and invstd); they
// are dβ and dγ.
void BatchNorm::gradient_sums(const Tensor& x, const Tensor& dy, bool param_grads, std::size_t j0, std::size_t j1) {
  zero_sums(j0, j1);
  add_gradient_sums(x, dy, 0, x.rows(), j0, j1);
  if (param_grads) store_param_grads(j0, j1);
}

void BatchNorm::zero_sums(std::size_t j0, std::size_t j1) {
  std::fill(acc_a_.begin() + j0, acc_a_.begin() + j1, 0.0);
  std::fill(acc_b_.begin() + j0, acc_b_.begin() + j1, 0.0);
}

void BatchNorm::add_gradient_sums(const Tensor& x, const Tensor& dy, std::size_t r0, std::size_t r1, std::size_t j0,
                                  std::size_t j1) {
  for (std::size_t r = r0; r < r1; ++r) {
    const float* xr = x.row(r);
    const float* dr = dy.row(r);
    for (std::size_t j = j0; j < j1; ++j) {
      acc_a_[j] += dr[j];
      acc_b_[j] += static_cast<double>(dr[j]) * ((xr[j] - mean_[j]) * invstd_[j]);
    }
  }
}

void BatchNorm::store_param_grads(std::size_t j0, std::size_t j1) {
  for (std::size_t j = j0; j < j1; ++j) {
    grads_[0][j] = static_cast<float>(acc_b_[j]);
    grads_[1][j] = static_cast<float>(acc_a_[j]);
  }
}

void BatchNorm::input_gradient(const Tensor& x, const Tensor& dy, Tensor& dx, std::size_t j0, std::size_t j1) {
  const std::size_t B = x.rows();
  const float* g = params_[0].data();
  if (!last_training_) {
    for (std::size_t r = 0; r < B; ++r) {
      const float* dr = dy.row(r);
      float* out = dx.row(r);
      for (std::size_t j = j0; j < j1; ++j) out[j] = dr[j] * g[j] * invstd_[j];
    }
    return;
  }
  float* mean_dy = acc_alpha();
  float* proj = acc_shift();
  const double inv_b = 1.0 / static_cast<double>(B);
  for (std::size_t j = j0; j < j1; ++j) {
    mean_dy[j] = static_cast<float>(acc_a_[j] * inv_b);
    proj[j] = static_cast<float>(acc_b_[j] * inv_b);  // mean of dy·x̂
  }
  for (std::size_t r = 0; r < B; ++r) {
    const float* xr = x.row(r);
    const float* dr = dy.row(r);
    float* out = dx.row(r);
    for (std::size_t j = j0; j < j1; ++j) {
      const float xhat = (xr[j] - mean_[j]) * invstd_[j];
      out[j] = (dr[j] - mean_dy[j] - xhat * proj[j]) * g[j] * invstd_[j];
    }
  }
}

}  // namespace gradflow
