// approximation: universal approximation — one hidden layer fits a 1-D function better as it
// grows wider (Cybenko 1989, Hornik 1991); error against width, and the fitted curves.
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "studies/studies.h"

namespace gradflow::runs {

namespace {
struct Target {
  const char* name;
  std::function<float(float)> f;
};

Dataset sample(const Target& t, std::size_t n) {
  Dataset d;
  d.x.resize(n, 1);
  d.y.resize(n, 1);
  for (std::size_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(-M_PI + 2 * M_PI * (static_cast<double>(i) + 0.5) / static_cast<double>(n));
    d.x(i, 0) = x;
    d.y(i, 0) = t.f(x);
  }
  return d;
}
}  // namespace

void study_approximation(StudyReport& r, const StudyOptions& o) {
  const std::vector<Target> targets = {{"sin x", [](float x) { return std::sin(x); }},
                                       {"|x|", [](float x) { return std::fabs(x); }},
                                       {"step", [](float x) { return x > 0 ? 1.0f : 0.0f; }}};
  const std::vector<std::size_t> widths = o.quick ? std::vector<std::size_t>{1, 4, 32}
                                                  : std::vector<std::size_t>{1, 2, 4, 8, 16, 32, 64, 128};
  const std::size_t epochs = o.quick ? 300 : 3000, n = 256;
  const std::uint64_t seed = 7;
  r.setting("targets", "sin x, |x| and a step on [−π, π], 256 evenly spaced training points, 1024 test points");
  r.setting("network", "1-W(tanh)-1, MSE, Adam lr 0.01, batch 32, Glorot initialization");
  r.setting("widths", widths);
  r.setting("epochs", epochs);
  r.setting("seed", seed);
  std::vector<std::string> cols{"width"};
  for (const auto& t : targets) cols.push_back(fmt::format("test MSE, {}", t.name));
  r.columns(cols);
  std::vector<std::vector<double>> mse(targets.size());
  std::vector<std::vector<StudyReport::Series>> curves(targets.size());
  std::vector<double> grid;
  for (std::size_t ti = 0; ti < targets.size(); ++ti) {
    const Dataset train = sample(targets[ti], n), test = sample(targets[ti], 1024);
    if (grid.empty())
      for (std::size_t i = 0; i < test.size(); i += 8) grid.push_back(test.x(i, 0));
    std::vector<double> truth;
    for (std::size_t i = 0; i < test.size(); i += 8) truth.push_back(test.y(i, 0));
    curves[ti].push_back({"target", truth, true});
    for (std::size_t w : widths) {
      Sequential m(1, {nn::dense(w), nn::tanh(), nn::dense(1)}, seed);
      Adam adam(AdamOptions{.lr = 0.01});
      study::fit(m, LossKind::MeanSquaredError, adam, train, nullptr, study::recipe(epochs, 32, seed));
      const Loss l(LossKind::MeanSquaredError);
      mse[ti].push_back(evaluate(m, l, test).loss);
      if (w == widths.front() || w == widths.back() || w == 4) {
        Tensor out;
        predict(m, test.x, out);
        std::vector<double> fitted;
        for (std::size_t i = 0; i < test.size(); i += 8) fitted.push_back(out(i, 0));
        curves[ti].push_back({fmt::format("width {}", w), fitted});
      }
    }
  }
  for (std::size_t wi = 0; wi < widths.size(); ++wi) {
    std::vector<std::string> row{std::to_string(widths[wi])};
    for (std::size_t ti = 0; ti < targets.size(); ++ti) row.push_back(study::num(mse[ti][wi]));
    r.row(row);
  }
  std::vector<double> wx(widths.begin(), widths.end());
  std::vector<StudyReport::Series> by_width;
  for (std::size_t ti = 0; ti < targets.size(); ++ti) by_width.push_back({targets[ti].name, mse[ti]});
  r.line_chart("Test error against width", "hidden units", "test MSE", wx, by_width,
               "Mean squared error on 1024 points after the same training, as the hidden layer widens (both axes "
               "logarithmic). sin x and |x| need many units; the step is already fitted by one steep tanh unit.",
               {.log = true, .xlog = true});
  for (std::size_t ti = 0; ti < targets.size(); ++ti)
    r.line_chart(fmt::format("Fitted curves: {}", targets[ti].name), "x", "y", grid, curves[ti],
                 fmt::format("The target (dashed) and the network's output at widths {}, 4 and {}.", widths.front(),
                             widths.back()));
  // sin and |x| need many units; a step is what one steep tanh unit already is.
  for (std::size_t ti = 0; ti < 2; ++ti)
    r.claim(fmt::format("{}: the widest network's error is below half the 1-unit network's ({} vs {})",
                        targets[ti].name, study::num(mse[ti].back()), study::num(mse[ti].front())),
            mse[ti].back() < 0.5 * mse[ti].front());
  r.claim(fmt::format("step: a single tanh unit already fits it (test MSE {} < 0.01; widest: {})",
                      study::num(mse[2].front()), study::num(mse[2].back())),
          mse[2].front() < 0.01);
  for (std::size_t ti = 0; ti < targets.size(); ++ti)
    r.numbers()[targets[ti].name] = {{"widths", widths}, {"test_mse", mse[ti]}};
  r.finding(fmt::format(
      "Wider hidden layers approximate sin x ({}× lower error from 1 to {} units) and |x| ({}×) far better, as the "
      "universal approximation theorem promises — it says nothing about how many units or how much training. The "
      "step is the exception that shows how: one tanh unit with large weights is already a (smoothed) step, so the "
      "single unit fits it about as well as many.",
      study::num(mse[0].front() / mse[0].back(), 2), widths.back(), study::num(mse[1].front() / mse[1].back(), 2)));
}

}  // namespace gradflow::runs
