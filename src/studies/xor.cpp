// xor: a perceptron (the threshold unit and its learning rule) fails on XOR; a network of linear
// units is still linear and fails too; one hidden layer with a non-linearity solves it.
#include <array>

#include <fmt/format.h>

#include "studies/studies.h"

namespace gradflow::runs {

namespace {

constexpr double kLo = -0.5, kHi = 1.5;
constexpr std::size_t kGrid = 48;

Tensor grid_points() {
  Tensor g(kGrid * kGrid, 2);
  for (std::size_t j = 0; j < kGrid; ++j)
    for (std::size_t i = 0; i < kGrid; ++i) {
      g(j * kGrid + i, 0) = static_cast<float>(kLo + (kHi - kLo) * (i + 0.5) / kGrid);
      g(j * kGrid + i, 1) = static_cast<float>(kLo + (kHi - kLo) * (j + 0.5) / kGrid);
    }
  return g;
}

std::vector<std::array<double, 3>> xor_points(const Dataset& d) {
  std::vector<std::array<double, 3>> p;
  for (std::size_t i = 0; i < d.size(); ++i) p.push_back({d.x(i, 0), d.x(i, 1), d.y[i]});
  return p;
}

// The share of points whose class gets a higher probability than the other by more than
// kMargin. A linear network ends hedging at p = 0.5 on every point (loss ln 2); which side of
// 0.5 each point then falls on is float rounding — it differed between sgemm code paths, and
// once made all four "right". Such a point is not classified.
constexpr double kMargin = 1e-3;

double accuracy_by_margin(Sequential& m, const Dataset& d) {
  Tensor p;
  predict(m, d.x, p);
  std::size_t right = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const std::size_t y = static_cast<std::size_t>(d.y[i]);
    right += p(i, y) - p(i, 1 - y) > kMargin;
  }
  return static_cast<double>(right) / static_cast<double>(d.size());
}

}  // namespace

void study_xor(StudyReport& r, const StudyOptions& o) {
  const Dataset d = synthetic::xor_gate();
  const std::size_t epochs = o.quick ? 400 : 2000;
  const std::vector<std::uint64_t> seeds = o.quick ? std::vector<std::uint64_t>{1} : std::vector<std::uint64_t>{1, 2, 3, 4, 5};
  r.setting("data", "the four XOR points (0,0)→0, (0,1)→1, (1,0)→1, (1,1)→0");
  r.setting("networks", "2-4(identity)-2 and 2-4(tanh)-2, softmax and cross-entropy, SGD lr 0.5, batch 4");
  r.setting("epochs", epochs);
  r.setting("seeds", seeds);
  r.setting("accuracy", fmt::format("a point counts when its class's probability beats the other's by more than {}",
                                     kMargin));
  r.columns({"model", "accuracy", "final loss", "seeds that solve XOR"});
  const Tensor grid = grid_points();

  // The perceptron: Rosenblatt's rule, targets ±1.
  Perceptron p(2);
  std::vector<int> t;
  for (std::size_t i = 0; i < d.size(); ++i) t.push_back(d.y[i] > 0.5f ? 1 : -1);
  const std::size_t errors = p.fit(d.x, t, epochs);
  std::vector<int> cells;
  for (std::size_t i = 0; i < grid.rows(); ++i) cells.push_back(p.predict({grid.row(i), 2}) > 0 ? 1 : 0);
  const double p_acc = 1.0 - static_cast<double>(errors) / static_cast<double>(d.size());
  r.row({"perceptron (threshold unit)", study::pct(p_acc), "-", "0 of 1 (deterministic)"});
  r.regions_chart("Perceptron", kLo, kHi, kLo, kHi, kGrid, kGrid, cells, xor_points(d),
                  fmt::format("The perceptron's decision regions after {} passes of its rule: one straight line, which "
                              "cannot put (0,1) and (1,0) on one side and (0,0) and (1,1) on the other; {} of 4 points "
                              "stay misclassified.",
                              epochs, errors));
  r.claim("a perceptron cannot classify all four XOR points", errors > 0);

  struct Net {
    const char* name;
    LayerSpec hidden;
  };
  std::vector<double> x = study::range(epochs);
  std::vector<StudyReport::Series> losses;
  for (const Net& net : {Net{"linear network 2-4-2 (identity)", nn::identity()}, Net{"2-4-2 with tanh", nn::tanh()}}) {
    std::size_t solved = 0;
    double acc0 = 0, loss0 = 0;
    std::vector<int> region;
    for (std::uint64_t seed : seeds) {
      Sequential m(2, {nn::dense(4), net.hidden, nn::dense(2), nn::softmax()}, seed);
      SGD sgd(SGDOptions{.lr = 0.5});
      const auto h = study::fit(m, LossKind::CrossEntropy, sgd, d, &d, study::recipe(epochs, 4, seed));
      const double acc = accuracy_by_margin(m, d);
      solved += acc == 1.0;
      if (seed == seeds.front()) {
        acc0 = acc;
        loss0 = h.back().train_loss;
        std::vector<double> l;
        for (const auto& e : h) l.push_back(e.train_loss);
        losses.push_back({net.name, l});
        Tensor out;
        predict(m, grid, out);
        for (std::size_t i = 0; i < out.rows(); ++i) region.push_back(out(i, 1) > out(i, 0) ? 1 : 0);
      }
    }
    r.row({net.name, study::pct(acc0), study::num(loss0), fmt::format("{} of {}", solved, seeds.size())});
    const bool linear = net.hidden.kind == LayerKind::Identity;
    r.regions_chart(net.name, kLo, kHi, kLo, kHi, kGrid, kGrid, region, xor_points(d),
                    linear ? "Linear units compose into one linear map: the regions are again split by a straight "
                             "line, and the network cannot do better than 3 of 4 points."
                           : "With tanh in the hidden layer the regions bend: the network separates the diagonal pairs.");
    if (linear)
      r.claim("a network of linear units (no non-linearity) cannot classify all four points either",
              solved == 0 && acc0 <= 0.75);
    else
      r.claim("one hidden layer with a non-linearity (tanh) classifies all four", acc0 == 1.0);
    r.numbers()[linear ? "linear" : "tanh"] = {{"accuracy", acc0}, {"final_loss", loss0}, {"solved", solved}};
  }
  r.numbers()["perceptron"] = {{"errors", errors}, {"weights", std::vector<float>(p.weights().begin(), p.weights().end())},
                               {"bias", p.bias()}};
  r.line_chart("Training loss", "epoch", "cross-entropy", x, losses,
               "The linear network's loss stops at ln 2 ≈ 0.69 (it can only hedge), the tanh network's goes to 0.",
               {.log = true});
  r.finding("The lecture's claim holds: XOR is not linearly separable, so neither the threshold unit nor a stack of "
            "linear units can represent it; a single non-linear hidden layer can.");
}

}  // namespace gradflow::runs
