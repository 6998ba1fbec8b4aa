// LBFGS: limited-memory BFGS as torch.optim.LBFGS (1.13) computes it. One trainer step is one
// torch `step(closure)`: up to max_iter iterations on the step's batch, each evaluating the
// loss and gradients again (Optimizer::minimize's `evaluate`) at most max_eval times in all —
// so it is meant for full batches (batch size = the training rows), as scikit-learn's
// solver="lbfgs" uses it. Per iteration k (g the gradient, θ the trainable parameters):
//
//   direction  k = 1: d = −g;  else with y = g − g_prev, s = t·d: keep (y, s, 1/yᵀs) when
//              yᵀs > 1e-10 (the last history_size pairs), H = yᵀs / yᵀy, and d = −H̃·g by
//              the two-loop recursion over the kept pairs
//   step       t = min(1, 1/Σ|g|)·lr at the first iteration, else lr; without a line search
//              θ ← θ + t·d; with strong_wolfe, t from a strong-Wolfe search (c1 = 1e-4,
//              c2 = 0.9, at most 25 evaluations; cubic interpolation)
//   stop       max|g| ≤ tolerance_grad (before anything is changed, too), gᵀd > −tolerance_change,
//              max|t·d| ≤ tolerance_change, |loss − loss_prev| < tolerance_change, max_iter
//              iterations or max_eval evaluations in this step
//
// weight_decay (gradflow's own; torch's LBFGS has none) minimizes loss + wd/2·‖θ‖² over the
// trainable parameters: g + wd·θ is the gradient the search sees.
// Its state (the direction, the pairs, the previous gradient) carries over to the next step.
// It needs 2·history_size + 4 copies of the parameters. Per-layer rate scales (staged
// unfreezing's) do not apply: the search scales the whole direction. Checkpoints keep the rate
// and the counts; a resumed run builds its history afresh.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <vector>

#include "gradflow/optimizer.h"

namespace gradflow {

struct LBFGSOptions {
  double lr = 1;
  std::size_t max_iter = 20;
  std::size_t max_eval = 0;  // 0: max_iter·5/4 (torch's None)
  double tolerance_grad = 1e-7, tolerance_change = 1e-9;
  std::size_t history_size = 100;
  bool strong_wolfe = false;  // torch's line_search_fn="strong_wolfe" (else None)
  double weight_decay = 0;
};

class LBFGS final : public Optimizer {
 public:
  explicit LBFGS(const LBFGSOptions& o);
  std::string_view name() const override { return "lbfgs"; }
  bool evaluates() const override { return true; }
  bool minimize(Sequential& model, double loss, const std::function<double()>& evaluate) override;
  // torch's state['n_iter'] and state['func_evals']: iterations and evaluations so far.
  std::size_t iterations() const { return n_iter_; }
  std::size_t evaluations() const { return func_evals_; }
  // Whether the last step stopped on a tolerance (converged), not on max_iter or max_eval.
  bool converged() const { return converged_; }
  std::string state_json() const override;
  void load_state_json(const std::string& json) override;

 private:
  void update(float*, const float*, std::size_t, std::size_t, double, std::int64_t) override;
  // The trainable layers' gradient (frozen ones 0) with the weight decay's term, into g, and the
  // objective: `loss` plus the decay's.
  void gradient(Sequential& model, std::vector<float>& g) const;
  double objective(Sequential& model, double loss) const;
  void direction(const std::vector<float>& g, bool first);
  LBFGSOptions o_;
  std::vector<float> d_, prev_g_;
  std::deque<std::vector<float>> dirs_, steps_;
  std::deque<double> ro_;
  double t_ = 0, h_diag_ = 1;
  std::size_t n_iter_ = 0, func_evals_ = 0;
  bool converged_ = false;
};

}  // namespace gradflow
