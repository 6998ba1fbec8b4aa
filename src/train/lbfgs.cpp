#include "gradflow/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradflow/detail/json_depth.h"

#include "train/param_slices.h"

namespace gradflow {

namespace {

using Vec = std::vector<float>;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}
double max_abs(const Vec& a) {
  double m = 0;
  for (float v : a) m = std::max(m, static_cast<double>(std::fabs(v)));
  return m;
}
// a ← a + alpha·b, in float as torch's add_(b, alpha=alpha).
void axpy(Vec& a, double alpha, const Vec& b) {
  const float al = static_cast<float>(alpha);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += al * b[i];
}
void add_step(float* x, double t, const Vec& d) {
  const float tf = static_cast<float>(t);
  for (std::size_t i = 0; i < d.size(); ++i) x[i] += tf * d[i];
}

// The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), within the bounds (default:
// between the points); their middle when the cubic has none (torch's _cubic_interpolate).
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, double lo, double hi) {
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square < 0) return (lo + hi) / 2;
  const double d2 = std::sqrt(d2_square);
  const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                  : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
  return std::min(std::max(min_pos, lo), hi);
}
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2) {
  return cubic_interpolate(x1, f1, g1, x2, f2, g2, std::min(x1, x2), std::max(x1, x2));
}

// A point of the line search: step t, loss f, gradient g, directional derivative gᵀd.
struct Point {
  double t, f;
  Vec g;
  double gtd;
};

// torch's _strong_wolfe: from `at` (t = 0) along d, a step satisfying the strong Wolfe
// conditions, bracketed then zoomed by cubic interpolation. `eval(t, g)` returns the loss at
// θ + t·d and writes the gradient there. Returns the accepted point; `evals` counts evaluations.
Point strong_wolfe(const std::function<double(double, Vec&)>& eval, double t, const Vec& d, const Point& at,
                   double tolerance_change, std::size_t& evals) {
  constexpr double c1 = 1e-4, c2 = 0.9;
  constexpr std::size_t max_ls = 25;
  const double d_norm = max_abs(d), f = at.f, gtd = at.gtd;
  Point now{t, 0, {}, 0};
  now.f = eval(t, now.g);
  now.gtd = dot(now.g, d);
  evals = 1;
  Point prev = at;
  std::vector<Point> bracket;
  bool done = false;
  std::size_t ls_iter = 0;
  while (ls_iter < max_ls) {
    if (now.f > f + c1 * now.t * gtd || (ls_iter > 1 && now.f >= prev.f)) {
      bracket = {prev, now};
      break;
    }
    if (std::fabs(now.gtd) <= -c2 * gtd) {
      bracket = {now};
      done = true;
      break;
    }
    if (now.gtd >= 0) {
      bracket = {prev, now};
      break;
    }
    const double next = cubic_interpolate(prev.t, prev.f, prev.gtd, now.t, now.f, now.gtd,
                                          now.t + 0.01 * (now.t - prev.t), now.t * 10);
    prev = now;
    now.t = next;
    now.f = eval(next, now.g);
    now.gtd = dot(now.g, d);
    ++evals;
    ++ls_iter;
  }
  if (ls_iter == max_ls) bracket = {at, now};
  // Zoom: shrink the bracket [low, high] (low: the lower loss) until the conditions hold.
  bool insufficient = false;
  std::size_t low = 0, high = 1;
  if (bracket.size() == 2 && bracket[0].f > bracket[1].f) low = 1, high = 0;
  while (!done && ls_iter < max_ls) {
    if (std::fabs(bracket[1].t - bracket[0].t) * d_norm < tolerance_change) break;
    double next = cubic_interpolate(bracket[0].t, bracket[0].f, bracket[0].gtd, bracket[1].t, bracket[1].f,
                                    bracket[1].gtd);
    const double lo = std::min(bracket[0].t, bracket[1].t), hi = std::max(bracket[0].t, bracket[1].t);
    const double eps = 0.1 * (hi - lo);
    if (std::min(hi - next, next - lo) < eps) {
      // Too close to an end: move away from it, unless the last try was not there either.
      if (insufficient || next >= hi || next <= lo) {
        next = std::fabs(next - hi) < std::fabs(next - lo) ? hi - eps : lo + eps;
        insufficient = false;
      } else {
        insufficient = true;
      }
    } else {
      insufficient = false;
    }
    Point p{next, 0, {}, 0};
    p.f = eval(next, p.g);
    p.gtd = dot(p.g, d);
    ++evals;
    ++ls_iter;
    if (p.f > f + c1 * p.t * gtd || p.f >= bracket[low].f) {
      bracket[high] = std::move(p);
      if (bracket[0].f <= bracket[1].f) low = 0, high = 1;
      else low = 1, high = 0;
    } else {
      if (std::fabs(p.gtd) <= -c2 * gtd) done = true;
      else if (p.gtd * (bracket[high].t - bracket[low].t) >= 0) bracket[high] = bracket[low];
      bracket[low] = std::move(p);
    }
  }
  return std::move(bracket[low]);
}

}  // namespace

LBFGS::LBFGS(const LBFGSOptions& o) : Optimizer(o.lr), o_(o) {
  if (!(o.lr > 0)) throw std::invalid_argument(fmt::format("LBFGS: lr must be > 0, got {}", o.lr));
  if (!(o.weight_decay >= 0)) throw std::invalid_argument("LBFGS: weight_decay must be >= 0");
  if (o.max_iter == 0 || o.history_size == 0)
    throw std::invalid_argument("LBFGS: max_iter and history_size must be 1 or more");
  if (o_.max_eval == 0) o_.max_eval = o.max_iter * 5 / 4;
}

void LBFGS::update(float*, const float*, std::size_t, std::size_t, double, std::int64_t) {
  throw std::logic_error("LBFGS: its steps are minimize() (the trainer calls it with the batch's evaluation)");
}

void LBFGS::gradient(Sequential& model, Vec& g) const {
  g.assign(model.num_params(), 0.0f);  // (reuses g's storage: a line search evaluates many times)
  const float* all = model.gradients().data();
  const float* theta = model.parameters().data();
  const float wd = static_cast<float>(o_.weight_decay);
  for (std::size_t i = 0; i < model.size(); ++i)
    if (has_gradients(model.layer(i)))
      for (std::size_t k = model.param_offset(i), end = k + model.layer(i).num_params(); k < end; ++k)
        g[k] = wd != 0 ? all[k] + wd * theta[k] : all[k];
}

double LBFGS::objective(Sequential& model, double loss) const {
  if (o_.weight_decay == 0) return loss;
  const float* theta = model.parameters().data();
  double sq = 0;
  for (std::size_t i = 0; i < model.size(); ++i)
    if (has_gradients(model.layer(i)))
      for (std::size_t k = model.param_offset(i), end = k + model.layer(i).num_params(); k < end; ++k)
        sq += static_cast<double>(theta[k]) * theta[k];
  return loss + 0.5 * o_.weight_decay * sq;
}

// d = −H̃·g by the two-loop recursion (the first iteration: d = −g).
void LBFGS::direction(const Vec& g, bool first) {
  if (first) {
    d_.assign(g.size(), 0.0f);
    axpy(d_, -1, g);
    dirs_.clear(), steps_.clear(), ro_.clear();
    h_diag_ = 1;
    return;
  }
  Vec y = g;
  axpy(y, -1, prev_g_);
  Vec s = d_;
  for (float& v : s) v *= static_cast<float>(t_);
  const double ys = dot(y, s);
  if (ys > 1e-10) {
    if (dirs_.size() == o_.history_size) dirs_.pop_front(), steps_.pop_front(), ro_.pop_front();
    h_diag_ = ys / dot(y, y);
    dirs_.push_back(std::move(y));
    steps_.push_back(std::move(s));
    ro_.push_back(1.0 / ys);
  }
  std::vector<double> al(dirs_.size());
  Vec q(g.size(), 0.0f);
  axpy(q, -1, g);
  for (std::size_t i = dirs_.size(); i-- > 0;) {
    al[i] = dot(steps_[i], q) * ro_[i];
    axpy(q, -al[i], dirs_[i]);
  }
  for (float& v : q) v *= static_cast<float>(h_diag_);
  for (std::size_t i = 0; i < dirs_.size(); ++i) axpy(q, al[i] - dot(dirs_[i], q) * ro_[i], steps_[i]);
  d_ = std::move(q);
}

bool LBFGS::minimize(Sequential& model, double loss, const std::function<double()>& evaluate) {
  float* x = model.parameters().data();
  const std::size_t n = model.num_params();
  loss = objective(model, loss);
  Vec g;
  gradient(model, g);
  std::size_t evals = 1;
  ++func_evals_;
  converged_ = max_abs(g) <= o_.tolerance_grad;
  if (converged_) return true;
  const double lr = learning_rate();
  for (std::size_t it = 1; it <= o_.max_iter; ++it) {
    ++n_iter_;
    const bool first = d_.empty();  // the first iteration ever, or the first after a resume
    direction(g, first);
    prev_g_ = g;
    const double prev_loss = loss;
    if (first) {
      double sum = 0;
      for (float v : g) sum += std::fabs(v);
      t_ = std::min(1.0, 1.0 / sum) * lr;
    } else {
      t_ = lr;
    }
    const double gtd = dot(g, d_);
    if (gtd > -o_.tolerance_change) {
      converged_ = true;
      break;
    }
    std::size_t ls_evals = 0;
    bool small_grad = false;
    if (o_.strong_wolfe) {
      const Vec x0(x, x + n);
      const auto at = [&](double t, Vec& g_out) {  // the loss and gradient at θ0 + t·d
        add_step(x, t, d_);
        const double f = objective(model, evaluate());
        gradient(model, g_out);
        std::copy(x0.begin(), x0.end(), x);
        return f;
      };
      Point p = strong_wolfe(at, t_, d_, Point{0, loss, g, gtd}, o_.tolerance_change, ls_evals);
      loss = p.f, g = std::move(p.g), t_ = p.t;
      add_step(x, t_, d_);
      small_grad = max_abs(g) <= o_.tolerance_grad;
    } else {
      add_step(x, t_, d_);
      if (it != o_.max_iter) {
        loss = objective(model, evaluate());
        gradient(model, g);
        small_grad = max_abs(g) <= o_.tolerance_grad;
        ls_evals = 1;
      }
    }
    evals += ls_evals;
    func_evals_ += ls_evals;
    if (it == o_.max_iter || evals >= o_.max_eval) break;
    if (small_grad || max_abs(d_) * std::fabs(t_) <= o_.tolerance_change ||
        std::fabs(loss - prev_loss) < o_.tolerance_change) {
      converged_ = true;
      break;
    }
  }
  return all_finite(x, n);
}

std::string LBFGS::state_json() const {
  auto j = nlohmann::json::parse(Optimizer::state_json());
  j["n_iter"] = n_iter_;
  j["func_evals"] = func_evals_;
  return j.dump();
}

void LBFGS::load_state_json(const std::string& text) {
  Optimizer::load_state_json(text);
  const auto j = detail::parse_json<nlohmann::json>(text, "optimizer state");
  n_iter_ = j.value("n_iter", std::size_t{0});
  func_evals_ = j.value("func_evals", std::size_t{0});
  d_.clear();  // the history is not kept: the next iteration starts it afresh, as a first one
  prev_g_.clear();
}

}  // namespace gradflow
