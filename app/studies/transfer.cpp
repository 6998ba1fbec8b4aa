// transfer: Fashion-MNIST clothing → sandals, sneakers, bags and boots: frozen reused layers
// and staged unfreezing against training from scratch, as the labelled images per class shrink.
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "../data_source.h"
#include "studies.h"

namespace gradflow::app {

namespace {
// The reused layers frozen, trained for `epochs`: is the probe's head merely slow, or are the
// features poor? Its test accuracy.
double frozen_probe(Sequential& pre, const Dataset& few, const Dataset& test, std::size_t epochs,
                    std::uint64_t seed) {
  Sequential m(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(4), nn::softmax()}, seed);
  copy_matching_layers(m, pre);
  StagedUnfreezing frozen(StagedUnfreezing::every(2, 0), 0.1);
  Adam adam(AdamOptions{.lr = 1e-3});
  return study::fit(m, LossKind::CrossEntropy, adam, few, &test, epochs, 16, seed, {&frozen}).back().test_acc;
}
// What the accuracies (scratch, frozen, staged per size) say about the lecture's claim.
void transfer_claims(StudyReport& r, const std::vector<std::size_t>& sizes, const std::vector<double> (&acc)[3],
                     double probe_long) {
  const bool reuse_wins = std::max(acc[1][0], acc[2][0]) > acc[0][0];
  r.claim(fmt::format("the lecture: with {} images per class, reused layers (frozen or staged) beat training from "
                      "scratch ({} / {} vs {})",
                      sizes.front(), study::pct(acc[1][0]), study::pct(acc[2][0]), study::pct(acc[0][0])),
          reuse_wins, false);
  r.claim(fmt::format("unfreezing the reused layers in stages beats keeping them frozen with {} images per class ({} vs "
                      "{})",
                      sizes.back(), study::pct(acc[2].back()), study::pct(acc[1].back())),
          acc[2].back() > acc[1].back());
  r.finding(reuse_wins
                ? "Transfer pays when labels are scarce: the clothing features help the new classes."
                : fmt::format(
                      "Here the claim did not reproduce: sandals, sneakers, bags and boots are told apart from raw "
                      "pixels so easily that a network trained from scratch on {} images per class reaches {}, while "
                      "features learned on shirts, trousers and coats separate them poorly — a frozen probe stays at "
                      "{}: its output layer, trained alone at the same rate and budget, has barely started (given 20× "
                      "the epochs it reaches {}). Unfreezing in stages recovers part of the gap ({}). Transfer helps "
                      "when the source task's features are the ones the new task needs; the lecture's "
                      "vehicles-from-everyday-objects example assumes that.",
                      sizes.front(), study::pct(acc[0][0]), study::pct(acc[1][0]), study::pct(probe_long),
                      study::pct(acc[2][0])));
}
}  // namespace

void study_transfer(StudyReport& r, const StudyOptions& o) {
  const std::vector<std::size_t> sizes = o.quick ? std::vector<std::size_t>{10, 50} : std::vector<std::size_t>{10, 50, 200};
  const std::size_t pre_epochs = o.quick ? 2 : 5, epochs = o.quick ? 10 : 20;
  const std::uint64_t seed = 23;
  const Dataset all = study::fashion(o.quick ? 12000 : 0), all_test = study::fashion(0, false);
  const Dataset clothing = select_classes(all, "0,1,2,3,4,6");
  const Dataset target = select_classes(all, "5,7,8,9"), target_test = select_classes(all_test, "5,7,8,9");
  r.setting("pretraining", fmt::format("784-256-128-6 ReLU on the six clothing classes ({} images), Adam 1e-3, {} "
                                       "epochs, batch 128",
                                       clothing.size(), pre_epochs));
  r.setting("new task", fmt::format("Sandal, Sneaker, Bag, Ankle boot: N labelled images per class, {} epochs of Adam "
                                    "1e-3 at batch 16; tested on their {} test images",
                                    epochs, target_test.size()));
  r.setting("variants", "scratch: the same network from fresh weights; frozen: both reused hidden blocks frozen (a "
                        "linear probe); staged: frozen, then unfrozen one block every 5 epochs from the top, at 0.1× "
                        "the rate");
  r.setting("sizes", sizes);
  r.setting("seed", seed);
  Sequential pre(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(6), nn::softmax()}, seed);
  Adam pre_adam(AdamOptions{.lr = 1e-3});
  const double pre_acc = study::fit(pre, LossKind::CrossEntropy, pre_adam, clothing, nullptr, pre_epochs, 128, seed)
                             .back()
                             .train_acc;
  r.columns({"images per class", "scratch", "frozen", "staged"});
  std::vector<double> xs(sizes.begin(), sizes.end());
  std::vector<double> acc[3];
  for (std::size_t per : sizes) {
    const Dataset few = first_per_class(target, per);
    std::vector<std::string> row{std::to_string(per)};
    for (int v = 0; v < 3; ++v) {
      Sequential m(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(4), nn::softmax()}, seed);
      std::optional<StagedUnfreezing> stages;
      if (v > 0) {
        copy_matching_layers(m, pre);
        stages.emplace(StagedUnfreezing::every(2, v == 2 ? 5 : 0), 0.1);
      }
      Adam adam(AdamOptions{.lr = 1e-3});
      std::vector<Callback*> cbs;
      if (stages) cbs.push_back(&*stages);
      const double a = study::fit(m, LossKind::CrossEntropy, adam, few, &target_test, epochs, 16, seed, cbs)
                           .back()
                           .test_acc;
      acc[v].push_back(a);
      row.push_back(study::pct(a));
    }
    r.row(row);
  }
  const double probe_long = frozen_probe(pre, first_per_class(target, sizes.front()), target_test, 20 * epochs, seed);
  r.numbers()["frozen_20x_epochs"] = probe_long;
  r.numbers()["pretrain_train_acc"] = pre_acc;
  r.numbers()["sizes"] = sizes;
  r.numbers()["scratch"] = acc[0];
  r.numbers()["frozen"] = acc[1];
  r.numbers()["staged"] = acc[2];
  r.line_chart("Test accuracy on the new classes", "labelled images per class", "test accuracy", xs,
               {{"scratch", acc[0], true}, {"frozen (reused)", acc[1]}, {"staged unfreezing", acc[2]}},
               "With few labels the reused lower layers, trained on clothing, give features the new classes can be "
               "told apart by; from scratch the network must learn them from the few images.",
               {.xlog = true});
  transfer_claims(r, sizes, acc, probe_long);
}

}  // namespace gradflow::app
