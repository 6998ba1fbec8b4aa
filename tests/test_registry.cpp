// The registered optimizers, schedules and losses against the PyTorch classes they name
// (tools/torch_signatures.py reads each constructor's signature): every hyper-parameter that
// names a torch argument has that argument's default, and every torch argument with a default
// is registered, or listed below as one that does not apply here.
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gradflow/layer.h"
#include "gradflow/loss.h"
#include "gradflow/optimizer.h"
#include "gradflow/schedule.h"

namespace {

using gradflow::Hyperparameter;
using nlohmann::json;

json torch_signatures(const std::set<std::string>& classes) {
  std::string cmd = "/usr/bin/python3 " GRADFLOW_SOURCE_DIR "/tools/torch_signatures.py";
  for (const std::string& c : classes) cmd += " " + c;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, pipe.get())) > 0;) out.append(buf, n);
  return json::parse(out);
}

// torch's default for a registered torch_name: "betas[1]" is an element of the tuple "betas".
json torch_default(const json& signature, std::string_view torch_name) {
  const std::size_t bracket = torch_name.find('[');
  if (bracket == std::string_view::npos) return signature.at(std::string(torch_name));
  const json& tuple = signature.at(std::string(torch_name.substr(0, bracket)));
  return tuple.at(std::stoul(std::string(torch_name.substr(bracket + 1))));
}

// Compares `params` with the class's signature; `not_applicable`: torch arguments with no
// counterpart here (devices, implementations, modes gradflow does not have).
void expect_matches(const std::string& who, std::span<const Hyperparameter> params, const json& signature,
                    const std::set<std::string>& not_applicable) {
  std::set<std::string> covered;
  for (const Hyperparameter& p : params) {
    if (p.torch_name.empty()) continue;
    const std::string base(p.torch_name.substr(0, p.torch_name.find('[')));
    covered.insert(base);
    const json want = torch_default(signature, p.torch_name);
    if (want == "required") continue;  // torch has no default: ours is documented
    if (want.is_null()) {  // torch's None ("derived", "off"): 0 here, with the help saying which
      EXPECT_EQ(p.default_value, 0) << who << " " << p.name;
      continue;
    }
    const json got = p.type == Hyperparameter::Type::Flag ? json(p.default_value != 0) : json(p.default_value);
    if (want.is_boolean())
      EXPECT_EQ(got, want) << who << " " << p.name;
    else
      EXPECT_DOUBLE_EQ(got.get<double>(), want.get<double>()) << who << " " << p.name;
  }
  for (const auto& [arg, d] : signature.items())
    if (d != "required" && !covered.count(arg) && !not_applicable.count(arg))
      ADD_FAILURE() << who << ": torch's argument '" << arg << "' (default " << d.dump() << ") is not registered";
}

TEST(Registry, OptimizerDefaultsArePyTorchs) {
  std::set<std::string> classes;
  for (const auto& k : gradflow::optimizer_kinds()) classes.insert("torch.optim." + std::string(k.torch_class));
  const json sig = torch_signatures(classes);
  for (const auto& k : gradflow::optimizer_kinds())
    expect_matches(std::string(k.name), k.params, sig.at("torch.optim." + std::string(k.torch_class)),
                   {"foreach", "maximize", "capturable", "differentiable", "fused",
                    // "momentum" and "nesterov" are SGD with momentum 0.9 and those fixed.
                    k.name == "sgd" ? "" : "momentum", k.name == "sgd" ? "" : "nesterov"});
}

TEST(Registry, ScheduleDefaultsArePyTorchs) {
  std::set<std::string> classes;
  for (const auto& k : gradflow::schedule_kinds())
    if (!k.torch_class.empty()) classes.insert("torch.optim.lr_scheduler." + std::string(k.torch_class));
  const json sig = torch_signatures(classes);
  for (const auto& k : gradflow::schedule_kinds())
    if (!k.torch_class.empty())
      expect_matches(std::string(k.name), k.params, sig.at("torch.optim.lr_scheduler." + std::string(k.torch_class)),
                     // Not here: the epoch to start from and the printing (the trainer's), the plateau's
                     // mode (a loss: min), its threshold_mode (rel) and its eps (1e-8, as torch's).
                     {"last_epoch", "verbose", "mode", "threshold_mode", "eps", "T_max"});
}

TEST(Registry, LossesAreTheirPyTorchClassesWithMeanReduction) {
  std::set<std::string> classes;
  for (const auto& l : gradflow::loss_kinds()) classes.insert("torch.nn." + std::string(l.torch_class));
  const json sig = torch_signatures(classes);
  for (const auto& l : gradflow::loss_kinds()) {
    const json& s = sig.at("torch.nn." + std::string(l.torch_class));
    EXPECT_EQ(s.at("reduction"), "mean") << l.name;
    EXPECT_EQ(gradflow::parse_loss(l.name), l.kind);
  }
}

TEST(Registry, AnOptimizerRefusesWhatItDoesNotTakeAndValuesOutOfRange) {
  EXPECT_THROW(gradflow::make_optimizer("sgd", {{"amsgrad", 1}}), std::invalid_argument);
  EXPECT_THROW(gradflow::make_optimizer("adam", {{"beta1", 1.0}}), std::invalid_argument);
  EXPECT_THROW(gradflow::make_optimizer("adam", {{"lr", 0}}), std::invalid_argument);
  EXPECT_THROW(gradflow::make_optimizer("lion"), std::invalid_argument);
  try {
    gradflow::make_optimizer("sgd", {{"amsgrad", 1}});
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "optimizer sgd has no hyper-parameter 'amsgrad' (it takes lr, momentum, dampening, weight_decay, "
                 "nesterov)");
  }
  EXPECT_EQ(gradflow::make_optimizer("adamw")->name(), "adamw");
}

TEST(Registry, ScheduleFormsComeFromTheTable) {
  EXPECT_EQ(gradflow::schedule_forms(),
            "none | step:STEP_SIZE[:GAMMA] | exponential:GAMMA | cosine[:T_MAX[:ETA_MIN]] | "
            "plateau[:PATIENCE[:FACTOR[:THRESHOLD[:COOLDOWN[:MIN_LR]]]]]");
  const auto o = gradflow::parse_schedule("plateau:3:0.5:0.01:2:1e-5", 10, 0);
  EXPECT_EQ(o.patience, 3u);
  EXPECT_EQ(o.cooldown, 2u);
  EXPECT_DOUBLE_EQ(o.min_lr, 1e-5);
  EXPECT_THROW(gradflow::parse_schedule("step", 10, 0), std::invalid_argument);
  EXPECT_THROW(gradflow::parse_schedule("exponential:0.9:1", 10, 0), std::invalid_argument);
}

}  // namespace

namespace {

// nn::NAME() with C++'s defaults (listed here on purpose: the test compares two lists).
gradflow::LayerSpec cpp_default(gradflow::LayerKind kind) {
  using gradflow::LayerKind;
  namespace nn = gradflow::nn;
  switch (kind) {
    case LayerKind::Dense: return nn::dense(7);
    case LayerKind::Identity: return nn::identity();
    case LayerKind::Sigmoid: return nn::sigmoid();
    case LayerKind::Tanh: return nn::tanh();
    case LayerKind::ReLU: return nn::relu();
    case LayerKind::LeakyReLU: return nn::leaky_relu();
    case LayerKind::RReLU: return nn::rrelu();
    case LayerKind::PReLU: return nn::prelu();
    case LayerKind::ELU: return nn::elu();
    case LayerKind::SELU: return nn::selu();
    case LayerKind::Softmax: return nn::softmax();
    case LayerKind::BatchNorm: return nn::batch_norm();
    case LayerKind::Dropout: return nn::dropout();
  }
  return {};
}

// Each builder's arguments (what Python's gradflow.nn is made from) at their registered defaults
// build what nn::NAME() builds: the defaults written there and in C++'s structs agree.
TEST(Registry, EveryLayerBuildersRegisteredDefaultsAreItsCppDefaults) {
  using namespace gradflow;
  for (const LayerKindInfo& k : layer_kinds()) {
    SCOPED_TRACE(std::string(k.builder));
    LayerArgs args;
    for (const LayerArg& a : k.args)
      if (a.default_value.empty()) args[std::string(a.name)] = 7.0;  // the required ones (dense's units)
    const LayerSpec built = build_layer(k.builder, args);
    EXPECT_EQ(built.kind, k.kind);
    EXPECT_EQ(built, cpp_default(k.kind));
    EXPECT_FALSE(k.summary.empty());
  }
  EXPECT_THROW(build_layer("relu", {{"alpha", 1.0}}), std::invalid_argument);
  EXPECT_THROW(build_layer("dense", {}), std::invalid_argument);  // units is required
  EXPECT_THROW(build_layer("dense", {{"units", 2.5}}), std::invalid_argument);
  EXPECT_THROW(build_layer("no_such_kind", {}), std::invalid_argument);
  EXPECT_EQ(build_layer("leaky_relu", {{"negative_slope", 0.2}}), nn::leaky_relu(0.2f));
}

}  // namespace
