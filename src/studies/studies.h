// The studies (one file each in src/studies/) and what they share.
#pragma once

#include <string>
#include <vector>

#include "gradflow/gradflow.h"
#include "runs/recipe.h"
#include "studies/study.h"

namespace gradflow::runs {

void study_xor(StudyReport& r, const StudyOptions& o);
void study_approximation(StudyReport& r, const StudyOptions& o);
void study_init(StudyReport& r, const StudyOptions& o);
void study_deep_relu(StudyReport& r, const StudyOptions& o);
void study_dying_relu(StudyReport& r, const StudyOptions& o);
void study_selu(StudyReport& r, const StudyOptions& o);
void study_batchnorm(StudyReport& r, const StudyOptions& o);
void study_optimizers(StudyReport& r, const StudyOptions& o);
void study_transfer(StudyReport& r, const StudyOptions& o);

namespace study {

// The first n Fashion-MNIST images of the training (or test) split, pixels in [0, 1]; throws
// naming the Debian package when it is not installed.
Dataset fashion(std::size_t n, bool train = true);

// Per layer, from one forward and backward pass in training mode over a batch, no update: the
// mean and standard deviation of every layer's output, the fraction of saturated outputs
// (sigmoid, tanh) and of units zero for every sample (activations: "dead"), and each Dense layer's
// weight-gradient norm (in order, with its layer index).
struct LayerStats {
  std::vector<double> out_mean, out_std, saturated, dead;
  std::vector<double> grad_norm;
  std::vector<std::size_t> dense;
};
LayerStats probe(Sequential& model, const Loss& loss, const Dataset& data, std::size_t n);

// A study's recipe: `epochs` of minibatches of `batch`, shuffled from `seed`, at a constant rate,
// without diagnostics (a study measures what it reports itself); the rest as the fit needs it.
Recipe recipe(std::size_t epochs, std::size_t batch, std::uint64_t seed);
// Trains with build_training and returns the metrics of every epoch (test: evaluated after
// each, may be null). The optimizer's rate is its own (the recipe's lr is not read).
std::vector<EpochMetrics> fit(Sequential& model, LossKind loss, Optimizer& optimizer, const Dataset& train,
                              const Dataset* test, const Recipe& recipe);

std::string num(double v, int digits = 3);   // "0.0123", "1.2e-07"
std::string pct(double v);                   // "91.23%"
std::vector<double> range(std::size_t n, double first = 1);  // first, first+1, …

}  // namespace study
}  // namespace gradflow::runs
