// dying-relu: the fraction of dead ReLUs (zero for every input) against the learning rate, and
// LeakyReLU, RReLU, PReLU, ELU and SELU at the same rates.
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "studies/studies.h"

namespace gradflow::runs {

void study_dying_relu(StudyReport& r, const StudyOptions& o) {
  const std::vector<double> rates = o.quick ? std::vector<double>{0.01, 0.1, 0.3}
                                          : std::vector<double>{0.01, 0.03, 0.1, 0.2, 0.3, 0.5};
  const std::size_t n = o.quick ? 2000 : 10000, epochs = o.quick ? 1 : 3;
  const std::uint64_t seed = 11;
  const Dataset train = study::fashion(n), test = study::fashion(o.quick ? 1000 : 10000, false);
  r.setting("network", "784-256-256-10, the activation after each hidden Dense, default initializers (He for the "
                       "ReLU family, LeCun for SELU)");
  r.setting("training", fmt::format("plain SGD, batch 64, {} epoch(s) on {} Fashion-MNIST images", epochs, n));
  r.setting("dead", "a hidden unit whose output is exactly 0 for all of 1000 training images, after training");
  r.setting("rates", rates);
  r.setting("seed", seed);
  std::vector<std::string> cols{"activation"};
  for (double lr : rates) cols.push_back(fmt::format("dead at lr {} (test acc.)", lr));
  r.columns(cols);
  std::vector<StudyReport::Series> dead_series;
  std::map<std::string, std::vector<double>> dead_by;
  std::map<std::string, std::vector<bool>> diverged_by;
  for (const LayerSpec& act : {nn::relu(), nn::leaky_relu(), nn::rrelu(), nn::prelu(), nn::elu(), nn::selu()}) {
    const std::string a(to_string(act.kind));
    std::vector<std::string> row{a};
    std::vector<double> dead;
    for (double lr : rates) {
      Sequential m(784, {nn::dense(256), act, nn::dense(256), act, nn::dense(10), nn::softmax()}, seed);
      SGD sgd(SGDOptions{.lr = lr});
      double acc = NAN;
      bool diverged = false;
      try {
        acc = study::fit(m, LossKind::CrossEntropy, sgd, train, &test, study::recipe(epochs, 64, seed)).back().test_acc;
      } catch (const TrainingDiverged&) {
        diverged = true;
      }
      const auto s = study::probe(m, Loss(LossKind::CrossEntropy), train, 1000);
      const double d = (s.dead[1] + s.dead[3]) / 2;  // the two hidden activation layers
      dead.push_back(d);
      diverged_by[a].push_back(diverged);
      row.push_back(fmt::format("{} ({})", study::pct(d), diverged ? "diverged" : study::pct(acc)));
    }
    r.row(row);
    dead_series.push_back({a, dead});
    dead_by[a] = dead;
    r.numbers()[a] = {{"rates", rates}, {"dead", dead}, {"diverged", diverged_by[a]}};
  }
  r.line_chart("Dead units against the learning rate", "learning rate", "fraction of hidden units dead", rates,
               dead_series,
               "After training at each rate: the share of hidden units that output 0 for every one of 1000 images. "
               "A large step pushes a ReLU's bias and weights to where its input is negative for all data; its "
               "gradient is then 0 and it never recovers. The other activations have a non-zero slope (or output) "
               "for negative inputs and cannot die that way.",
               {.xlog = true});
  const auto& relu = dead_by["relu"];
  r.claim(fmt::format("more ReLUs die at the highest rate than at the lowest ({} vs {})", study::pct(relu.back()),
                      study::pct(relu.front())),
          relu.back() > relu.front());
  bool none = true;
  std::size_t diverged = 0, relu_trained = 0;
  for (const char* k : {"leaky_relu", "rrelu", "prelu", "elu", "selu"})
    for (std::size_t i = 0; i < rates.size(); ++i) {
      if (!diverged_by[k][i]) none = none && dead_by[k][i] == 0;
      diverged += diverged_by[k][i] && !diverged_by["relu"][i];
    }
  for (bool d : diverged_by["relu"]) relu_trained += !d;
  r.claim("LeakyReLU, RReLU, PReLU, ELU and SELU have no dead units at any rate they trained at", none);
  r.claim(fmt::format("the remedy as often told: the alternatives train at the rates where ReLUs die — with plain SGD "
                      "{} of their runs diverged at rates where ReLU trained",
                      diverged),
          diverged == 0, false);
  r.finding(fmt::format(
      "Dying ReLUs are a learning-rate effect: the dead share grows with the step size ({} at lr {} to {} at lr {}). "
      "The alternatives keep every unit alive — but their negative side is not bounded at 0, and with plain SGD at "
      "the rates that kill ReLUs most of them diverged instead (the table). The cure for both is the step: a lower "
      "rate, clipping, batch normalization or an adaptive optimizer.",
      study::pct(relu.front()), rates.front(), study::pct(relu.back()), rates.back()));
}

}  // namespace gradflow::runs
