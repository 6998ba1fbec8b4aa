#include "gradflow/trainer.h"
#include "gradflow/diagnostics.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <chrono>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/detail/json_depth.h"

#include "train/param_slices.h"

namespace gradflow {

std::size_t loss_input_layers(const Sequential& model, const Loss& loss) {
  const auto fused = loss.fused_activation();
  const std::size_t n = model.size();
  if (fused && n > 1 && model.layer(n - 1).kind() == *fused) return n - 1;
  return n;
}

namespace {
// A view of rows [begin, begin+count) of t, without copying.
Tensor row_view(const Tensor& t, std::size_t begin, std::size_t count) {
  return Tensor::view(const_cast<float*>(t.row(begin)), count, t.cols());
}

void check_data(const Sequential& model, const Dataset& data, const char* what) {
  if (data.features() != model.in_features())
    throw std::invalid_argument(fmt::format("{} set '{}' has {} features, the model takes {}",
                                            what, data.name, data.features(),
                                            model.in_features()));
  if (data.size() == 0) throw std::invalid_argument(fmt::format("{} set is empty", what));
}
// MAE and R² of a regression, accumulated batch by batch (in double: SST = Σy² − n·mean²).
struct RegressionSums {
  explicit RegressionSums(std::size_t cols) : sum(cols), sq(cols), sse(cols) {}
  void add(const Tensor& z, const Tensor& y) {
    if (z.cols() != y.cols()) return;
    for (std::size_t r = 0; r < y.rows(); ++r, ++rows)
      for (std::size_t c = 0; c < y.cols(); ++c) {
        const double t = y(r, c), e = static_cast<double>(z(r, c)) - t;
        sum[c] += t, sq[c] += t * t, sse[c] += e * e, abs += std::fabs(e);
      }
  }
  void finish(Evaluation& ev) const {
    if (rows == 0 || sum.empty()) return;
    const double n = static_cast<double>(rows);
    ev.mae = abs / (n * static_cast<double>(sum.size()));
    double r2 = 0;
    for (std::size_t c = 0; c < sum.size(); ++c) {
      const double sst = sq[c] - sum[c] * sum[c] / n;
      r2 += sst > 0 ? 1 - sse[c] / sst : (sse[c] == 0 ? 1.0 : 0.0);  // a constant target: as scikit-learn
    }
    ev.r2 = r2 / static_cast<double>(sum.size());
  }
  std::vector<double> sum, sq, sse;
  double abs = 0;
  std::size_t rows = 0;
};
}  // namespace

Evaluation evaluate(const Sequential& model, const Loss& loss, const Dataset& data,
                    std::size_t batch_size) {
  check_data(model, data, "evaluation");
  const std::size_t head = loss_input_layers(model, loss);
  Evaluation ev;
  ev.samples = data.size();
  ev.classes = data.num_classes;
  if (ev.classes) ev.confusion.assign(ev.classes * ev.classes, 0);
  const bool has_acc = loss.has_accuracy(model.layer(head - 1).out_features(), data.y.cols());
  double total = 0;
  std::size_t correct = 0;
  const bool regression = !has_acc && ev.classes == 0;
  RegressionSums sums(regression ? data.y.cols() : 0);
  Sequential::Workspace ws;
  for (std::size_t b = 0; b < data.size(); b += batch_size) {
    const std::size_t n = std::min(batch_size, data.size() - b);
    const Tensor x = row_view(data.x, b, n), y = row_view(data.y, b, n);
    const Tensor& z = model.evaluate(x, ws, head);
    total += loss.forward(z, y) * static_cast<double>(n);
    if (has_acc) correct += loss.count_correct(z, y);
    if (regression) sums.add(z, y);
    if (ev.classes && y.cols() == 1)
      for (std::size_t r = 0; r < n; ++r) {
        const auto want = static_cast<std::size_t>(y(r, 0));
        const std::size_t got = std::min(predicted_class(z.row(r), z.cols()), ev.classes - 1);
        ++ev.confusion[want * ev.classes + got];
      }
  }
  ev.loss = total / static_cast<double>(data.size());
  if (has_acc) ev.accuracy = static_cast<double>(correct) / static_cast<double>(data.size());
  if (regression) sums.finish(ev);
  return ev;
}

void predict(const Sequential& model, const Tensor& x, Tensor& out, std::size_t batch_size) {
  out.resize(x.rows(), model.out_features());
  Sequential::Workspace ws;
  for (std::size_t b = 0; b < x.rows(); b += batch_size) {
    const std::size_t n = std::min(batch_size, x.rows() - b);
    const Tensor& y = model.evaluate(row_view(x, b, n), ws);
    std::copy(y.data(), y.data() + y.size(), out.row(b));
  }
}

Trainer::Trainer(Sequential& model, const Loss& loss, Optimizer& optimizer, TrainOptions options)
    : model_(model), loss_(loss), opt_(optimizer), opts_(options), rng_(options.seed),
      head_(loss_input_layers(model, loss)) {
  if (opts_.batch_size == 0) throw std::invalid_argument("batch size must be at least 1");
  if (opts_.eval_batch_size == 0) opts_.eval_batch_size = 1000;
  for (std::size_t i = 0; i < model_.size(); ++i)
    for (auto& [name, b] : model_.layer(i).buffers()) buffers_.push_back({i, name, b});
}

namespace {
// Seconds between laps, for EpochMetrics::times.
class Stopwatch {
 public:
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Whether any of the trained layers' gradients is NaN or infinite (frozen layers have none).
// With `layers_checked`, a layer that checked the gradients its backward wrote
// (Layer::gradients_finite: Dense, tile by tile) is taken at its word, and only the others are
// scanned: the default networks' guard then costs no pass of its own.
bool any_non_finite_gradient(const Sequential& model, const float* grads, bool layers_checked) {
  const auto scan = [&](const Layer& l) {
    return has_gradients(l) && !(layers_checked && l.gradients_finite().has_value());
  };
  std::size_t scanned = 0;
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& l = model.layer(i);
    if (scan(l)) scanned += l.num_params();
    else if (has_gradients(l) && !*l.gradients_finite()) return true;
  }
  if (scanned == 0) return false;
  std::atomic<bool> non_finite{false};
  parallel::run([&](int t, int T) {
    bool finite = true;
    for_param_slices(model, t, T, scan, [&](std::size_t, std::size_t off, std::size_t n) {
      finite = finite && all_finite(grads + off, n);
    });
    if (!finite) non_finite.store(true, std::memory_order_relaxed);
  }, parallel::parts_for(static_cast<double>(scanned) * parallel::kElementCost));
  return non_finite.load();
}

// The highest trained layer holding a non-finite value of `values` (model.size() if none).
std::size_t highest_non_finite(const Sequential& model, const float* values) {
  for (std::size_t i = model.size(); i-- > 0;) {
    const Layer& l = model.layer(i);
    if (!has_gradients(l)) continue;
    const float* v = values + model.param_offset(i);
    for (std::size_t k = 0; k < l.num_params(); ++k)
      if (!std::isfinite(v[k])) return i;
  }
  return model.size();
}
}  // namespace

void Trainer::diverged(const std::string& what, std::size_t layer) const {
  std::string remedy;
  std::string cause = divergence_cause(model_, opt_.learning_rate(), &remedy);
  throw TrainingDiverged(fmt::format("training diverged at step {} (epoch {}, batch {}): {} — {}",
                                     info_.global_step + 1, info_.epoch, info_.step + 1, what, remedy),
                         info_.global_step, layer, std::move(cause));
}

void Trainer::check_finite(double loss, bool layers_checked) const {
  const float* grads = const_cast<Sequential&>(model_).gradients().data();
  if (std::isfinite(loss) && !any_non_finite_gradient(model_, grads, layers_checked)) {
    if (first_loss_ >= 0 && loss > opts_.divergence_factor * std::max(first_loss_, 0.01))
      diverged(fmt::format("the loss is {:.3g}, more than {:.0e} times the first step's {:.3g}", loss, opts_.divergence_factor,
                           first_loss_),
               model_.size());
    return;
  }
  // The backward pass runs from the output down: the highest layer with a non-finite gradient
  // is where the non-finite values entered it.
  const std::size_t bad = highest_non_finite(model_, grads);
  const std::string where =
      bad < model_.size()
          ? fmt::format("the gradient of layer {} ({}) is {}", bad, model_.layer(bad).name(),
                        std::isfinite(loss) ? "not finite" : "not finite either")
          : std::string("the gradients are still finite");
  diverged(fmt::format("the loss is {}; {}", std::isnan(loss) ? std::string("NaN") : fmt::format("{}", loss), where),
           bad);
}

// After the update: the weights, and the running statistics the forward pass updated (a
// BatchNorm's variance overflows to inf while its normalized output stays finite). A model
// saved from this state would not load.
void Trainer::check_state(bool weights_finite) const {
  const float* weights = model_.parameters().data();
  if (!weights_finite) {
    const std::size_t bad = highest_non_finite(model_, weights);
    diverged(fmt::format("the update made the weights of layer {} ({}) non-finite", bad, model_.layer(bad).name()),
             bad);
  }
  for (const Buffer& b : buffers_)
    for (float v : b.values->span())
      if (!std::isfinite(v))
        diverged(fmt::format("layer {} ({}) has a non-finite {}", b.layer, model_.layer(b.layer).name(), b.name), b.layer);
}

double Trainer::step(const Tensor& x, const Tensor& y) {
  const Sequential::TrainingClaim claim(model_);
  return step_rows(x, y, x.rows());
}

double Trainer::step_rows(const Tensor& x, const Tensor& y, std::size_t batch_rows) {
  double l = 0;
  std::size_t correct = 0;
  Stopwatch clock;
  if (x.rows() > 0) {
    const Tensor& z = model_.forward(x, Mode::Train, head_);
    l = loss_.forward_backward(z, y, &dz_);
    correct = loss_.has_accuracy(z.cols(), y.cols()) ? loss_.count_correct(z, y) : 0;
    times_.forward += clock.lap();
    model_.backward(dz_, head_);
  } else {
    model_.gradients().zero();  // a slice with no rows adds nothing to the batch's gradients
  }
  if (opts_.reducer) {
    // Every process takes the same decisions from here on: the batch's loss, its gradients,
    // and a stop that any process asked for.
    bool stop = interrupt_.load(std::memory_order_relaxed);
    opts_.reducer->reduce(model_, x.rows(), batch_rows, l, correct, stop);
    if (stop) interrupt_.store(true, std::memory_order_relaxed);
  }
  times_.backward += clock.lap();
  last_correct_ = correct;
  // The layers' own checks hold for the gradients their backward wrote: not after a slice
  // without rows (zeroed) or a data-parallel exchange (summed over processes).
  if (opts_.stop_on_non_finite) check_finite(l, x.rows() > 0 && !opts_.reducer);
  if (first_loss_ < 0) first_loss_ = l;
  info_.batch_size = x.rows();
  info_.loss = l;
  times_.update += clock.lap();
  for (Callback* cb : callbacks_) cb->on_after_backward(*this, info_);
  times_.callbacks += clock.lap();
  const bool weights_finite =
      opt_.evaluates() ? opt_.minimize(model_, l, [&] { return evaluate_again(x, y, batch_rows); }) : opt_.step(model_);
  if (opts_.stop_on_non_finite) check_state(weights_finite);
  times_.update += clock.lap();
  for (Callback* cb : callbacks_) cb->on_step_end(*this, info_);
  times_.callbacks += clock.lap();
  ++info_.global_step;
  return l;
}

double Trainer::evaluate_again(const Tensor& x, const Tensor& y, std::size_t batch_rows) {
  double l = 0;
  std::size_t correct = 0;
  if (x.rows() > 0) {
    l = loss_.forward_backward(model_.forward(x, Mode::Train, head_), y, &dz_);
    model_.backward(dz_, head_);
  } else {
    model_.gradients().zero();
  }
  if (opts_.reducer) {
    bool stop = false;
    opts_.reducer->reduce(model_, x.rows(), batch_rows, l, correct, stop);
  }
  return l;
}

void Trainer::resume_at(std::size_t epochs_done, std::size_t steps_done) {
  first_epoch_ = epochs_done + 1;
  info_.global_step = steps_done;
  within_ = {};
}

void Trainer::resume_within(const EpochPosition& within, std::size_t steps_done) {
  if (within.epoch == 0) throw std::invalid_argument("resume_within: epochs count from 1");
  first_epoch_ = within.epoch;
  info_.global_step = steps_done;
  within_ = within;
}

std::string Trainer::state_json() const {
  nlohmann::json j{{"epoch", interrupted_ ? position_.epoch - 1 : info_.epoch},
                   {"global_step", info_.global_step},
                   // Interrupted: the epoch starts over from its shuffle and skips the steps taken.
                   {"shuffle_rng", interrupted_ ? epoch_rng_ : rng_.state()},
                   {"model_rng", model_.rng().state()}};
  if (interrupted_)
    j["within"] = {{"epoch", position_.epoch}, {"steps_done", position_.steps_done}, {"loss_sum", position_.loss_sum},
                   {"correct", position_.correct}};
  return j.dump();
}

void Trainer::load_state_json(const std::string& text) {
  try {
    const auto j = detail::parse_json<nlohmann::json>(text, "trainer state");
    const std::size_t epoch = j.at("epoch").get<std::size_t>(), steps = j.at("global_step").get<std::size_t>();
    rng_.set_state(j.at("shuffle_rng").get<std::array<std::uint64_t, 4>>());
    model_.rng().set_state(j.at("model_rng").get<std::array<std::uint64_t, 4>>());
    if (j.contains("within")) {
      const auto& w = j.at("within");
      if (w.at("epoch").get<std::size_t>() != epoch + 1)
        throw std::invalid_argument(fmt::format("trainer state: stopped inside epoch {} after {} epochs",
                                                w.at("epoch").dump(), epoch));
      resume_within({w.at("epoch"), w.at("steps_done"), w.at("loss_sum"), w.at("correct")}, steps);
    } else {
      resume_at(epoch, steps);
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(fmt::format("trainer state: {}", e.what()));
  }
}

void Trainer::check(const Dataset& train) const {
  check_data(model_, train, "training");
  const std::size_t N = train.size(), bs = opts_.batch_size;
  if (opts_.drop_last && N < bs)
    throw std::invalid_argument(
        fmt::format("{} training samples make no full batch of {} (drop_last drops the only one)", N, bs));
  for (std::size_t i = 0; i < model_.size(); ++i)
    if (model_.layer(i).kind() == LayerKind::BatchNorm && N == 1)
      throw std::invalid_argument(fmt::format("1 training sample: {} (layer {}) cannot train on a batch of one",
                                              model_.layer(i).name(), i));
}

bool Trainer::folds_last_batch(std::size_t n) const {
  const std::size_t bs = opts_.batch_size;
  if (opts_.drop_last || n <= bs || n % bs != 1) return false;
  for (std::size_t i = 0; i < model_.size(); ++i)
    if (model_.layer(i).kind() == LayerKind::BatchNorm) return true;
  return false;
}

std::size_t Trainer::steps_per_epoch(std::size_t n) const {
  const std::size_t bs = opts_.batch_size;
  return opts_.drop_last ? n / bs : (n + bs - 1) / bs - (folds_last_batch(n) ? 1 : 0);
}

double Trainer::step_batch(const Dataset& train, std::size_t begin, std::size_t n) {
  // This process's rows of the batch: all of them, or its slice in data-parallel training.
  std::size_t lo = 0, hi = n;
  if (GradientReducer* r = opts_.reducer) {
    lo = n * r->rank() / r->size();
    hi = n * (r->rank() + 1) / r->size();
  }
  model_.set_first_row(lo);
  if (!opts_.shuffle)
    return step_rows(row_view(train.x, begin + lo, hi - lo), row_view(train.y, begin + lo, hi - lo), n);
  const std::span<const std::uint32_t> idx(order_.data() + begin + lo, hi - lo);
  Stopwatch clock;
  gather_rows(train.x, idx, batch_x_);
  gather_rows(train.y, idx, batch_y_);
  times_.gather += clock.lap();
  return step_rows(batch_x_, batch_y_, n);
}

bool Trainer::train_epoch(const Dataset& train, std::size_t epoch, std::size_t first_step, double& loss_sum,
                          std::size_t& correct) {
  const std::size_t N = train.size(), bs = opts_.batch_size;
  // The last partial batch: dropped (drop_last), folded into the one before when it would be
  // a single sample that BatchNorm cannot normalize, else a step of its own.
  const bool fold = folds_last_batch(N);
  for (std::size_t s = first_step; s < info_.steps_per_epoch; ++s) {
    const std::size_t begin = s * bs;
    const std::size_t n = fold && s + 1 == info_.steps_per_epoch ? N - begin : std::min(bs, N - begin);
    info_.step = s;
    loss_sum += step_batch(train, begin, n) * static_cast<double>(n);
    correct += last_correct_;
    if (interrupt_.load(std::memory_order_relaxed)) {
      interrupted_ = true;
      position_ = {epoch, s + 1, loss_sum, correct};
      return false;
    }
  }
  return true;
}

EpochMetrics Trainer::epoch_metrics(const Dataset& train, std::size_t epoch, double loss_sum, std::size_t correct,
                                    const Dataset* test, const Dataset* val) {
  EpochMetrics m;
  m.epoch = epoch;
  const double seen =
      static_cast<double>(opts_.drop_last ? info_.steps_per_epoch * opts_.batch_size : train.size());
  m.train_loss = loss_sum / seen;
  if (loss_.has_accuracy(model_.layer(head_ - 1).out_features(), train.y.cols()))
    m.train_acc = static_cast<double>(correct) / seen;
  Stopwatch clock;
  if (val) {
    const Evaluation ev = evaluate(model_, loss_, *val, opts_.eval_batch_size);
    m.val_loss = ev.loss;
    m.val_acc = ev.accuracy;
    m.val_mae = ev.mae;
    m.val_r2 = ev.r2;
  }
  if (test) {
    const Evaluation ev = evaluate(model_, loss_, *test, opts_.eval_batch_size);
    m.test_loss = ev.loss;
    m.test_acc = ev.accuracy;
    m.test_mae = ev.mae;
    m.test_r2 = ev.r2;
  }
  times_.evaluate = clock.lap();
  m.times = times_;
  return m;
}

std::vector<EpochMetrics> Trainer::fit(const Dataset& train, const Dataset* test, const Dataset* val) {
  const Sequential::TrainingClaim claim(model_);
  using Clock = std::chrono::steady_clock;
  check(train);
  if (test) check_data(model_, *test, "test");
  if (val) check_data(model_, *val, "validation");
  order_.resize(train.size());
  info_.steps_per_epoch = steps_per_epoch(train.size());
  stop_ = false;
  interrupted_ = false;
  interrupt_.store(false);
  first_loss_ = -1;
  std::vector<EpochMetrics> history;
  for (Callback* cb : callbacks_) cb->on_train_begin(*this);
  for (std::size_t epoch = first_epoch_; epoch <= opts_.epochs && !stop_; ++epoch) {
    const auto t0 = Clock::now();
    info_.epoch = epoch;
    for (Callback* cb : callbacks_) cb->on_epoch_begin(*this, epoch);
    const double lr = opt_.learning_rate();
    // Each epoch's order depends only on the Rng state (not on the previous epoch's order), so a
    // resumed run visits the samples exactly as an uninterrupted one.
    epoch_rng_ = rng_.state();
    if (opts_.shuffle) {
      std::iota(order_.begin(), order_.end(), 0u);
      rng_.shuffle(order_);
    }
    times_ = {};
    double loss_sum = 0;
    std::size_t correct = 0, first_step = 0;
    if (within_.epoch == epoch) {  // an interrupted epoch, continued
      first_step = within_.steps_done;
      loss_sum = within_.loss_sum;
      correct = within_.correct;
      within_ = {};
    }
    if (!train_epoch(train, epoch, first_step, loss_sum, correct)) return history;
    EpochMetrics m = epoch_metrics(train, epoch, loss_sum, correct, test, val);
    m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    m.lr = lr;
    history.push_back(m);
    for (Callback* cb : callbacks_) cb->on_epoch_end(*this, m);
  }
  for (Callback* cb : callbacks_) cb->on_train_end(*this);
  return history;
}

}  // namespace gradflow
