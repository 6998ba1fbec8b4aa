// optimizers: the update rules the lecture announces next — SGD, momentum, Nesterov, AdaGrad,
// RMSProp, Adam — on the same network, data and budget.
#include <cmath>
#include <functional>
#include <memory>

#include <fmt/format.h>

#include "studies/studies.h"

namespace gradflow::runs {

void study_optimizers(StudyReport& r, const StudyOptions& o) {
  const std::size_t n = o.quick ? 3000 : 20000, epochs = o.quick ? 3 : 10;
  const std::uint64_t seed = 19;
  const Dataset train = study::fashion(n), test = study::fashion(o.quick ? 1000 : 10000, false);
  r.setting("network", "784-128-128-10 ReLU (He initialization)");
  r.setting("training", fmt::format("batch 64, {} epochs on {} Fashion-MNIST images, each rule at its usual rate",
                                    epochs, n));
  r.setting("seed", seed);
  struct Rule {
    const char* name;
    std::function<std::unique_ptr<Optimizer>()> make;
  };
  const std::vector<Rule> rules = {
      {"SGD lr 0.01", [] { return std::make_unique<SGD>(SGDOptions{.lr = 0.01}); }},
      {"momentum 0.9, lr 0.01", [] { return std::make_unique<SGD>(SGDOptions{.lr = 0.01, .momentum = 0.9}); }},
      {"Nesterov 0.9, lr 0.01",
       [] { return std::make_unique<SGD>(SGDOptions{.lr = 0.01, .momentum = 0.9, .nesterov = true}); }},
      {"AdaGrad lr 0.01", [] { return std::make_unique<Adagrad>(AdagradOptions{.lr = 0.01}); }},
      {"RMSProp lr 0.001", [] { return std::make_unique<RMSprop>(RMSpropOptions{.lr = 0.001}); }},
      {"Adam lr 0.001", [] { return std::make_unique<Adam>(AdamOptions{.lr = 0.001}); }},
  };
  r.columns({"update rule", "train loss after epoch 1", "final train loss", "final test loss", "test acc."});
  std::vector<StudyReport::Series> curves;
  std::vector<double> finals;
  for (const Rule& rule : rules) {
    Sequential m(784, {nn::dense(128), nn::relu(), nn::dense(128), nn::relu(), nn::dense(10), nn::softmax()}, seed);
    auto opt = rule.make();
    const auto h = study::fit(m, LossKind::CrossEntropy, *opt, train, &test, study::recipe(epochs, 64, seed));
    std::vector<double> l;
    for (const auto& e : h) l.push_back(e.train_loss);
    finals.push_back(h.back().train_loss);
    r.row({rule.name, study::num(h.front().train_loss), study::num(h.back().train_loss), study::num(h.back().test_loss),
           study::pct(h.back().test_acc)});
    curves.push_back({rule.name, l});
    r.numbers()[rule.name] = {{"train_loss", l}, {"test_acc", h.back().test_acc}, {"test_loss", h.back().test_loss}};
  }
  r.line_chart("Training loss per epoch", "epoch", "train loss", study::range(epochs), curves,
               "The same network from the same initial weights, seeing the same batches in the same order; only the "
               "update rule differs.",
               {.log = true});
  std::size_t beaten = 0;
  for (std::size_t i = 1; i < finals.size(); ++i) beaten += finals[i] < finals[0];
  r.claim(fmt::format("every rule with momentum or adaptive rates ends below plain SGD's training loss ({} of {})",
                      beaten, finals.size() - 1),
          beaten == finals.size() - 1);
  r.finding("On the same budget, momentum (which averages the gradient over steps) and the adaptive rules (which "
            "scale each parameter's step by its gradient history) all get further than plain SGD at its usual rate.");
}

}  // namespace gradflow::runs
