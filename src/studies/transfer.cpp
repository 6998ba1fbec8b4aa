// transfer: Fashion-MNIST clothing → sandals, sneakers, bags and boots: frozen reused layers
// and staged unfreezing against training from scratch, as the labelled images per class shrink.
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "runs/data_source.h"
#include "studies/studies.h"

namespace gradflow::runs {

namespace {
// The reused layers frozen, trained for `epochs`: is the probe's head merely slow, or are the
// features poor? Its test accuracy.
double frozen_probe(Sequential& pre, const Dataset& few, const Dataset& test, std::size_t epochs,
                    std::uint64_t seed) {
  Sequential m(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(4), nn::softmax()}, seed);
  copy_matching_layers(m, pre);
  Recipe recipe = study::recipe(epochs, 16, seed);
  recipe.freeze = 2;
  Adam adam(AdamOptions{.lr = 1e-3});
  return study::fit(m, LossKind::CrossEntropy, adam, few, &test, recipe).back().test_acc;
}
// The variants, in the table's order: 0 scratch, 1 frozen, 2 staged at 0.1× the rate, 3 staged at
// the full rate.
constexpr int kVariants = 4;
using Accuracies = std::vector<double>[kVariants];

// What the accuracies (per variant, per size) say about the lecture's claim, and when it holds.
void transfer_claims(StudyReport& r, const std::vector<std::size_t>& sizes, const Accuracies& acc,
                     double probe_long) {
  const std::string few = std::to_string(sizes.front()), many = std::to_string(sizes.back());
  const bool staged_wins = acc[3][0] > acc[0][0];
  r.claim(fmt::format("the lecture: with {} images per class, reused layers unfrozen in stages (at the full rate) "
                      "beat training from scratch ({} vs {})",
                      few, study::pct(acc[3][0]), study::pct(acc[0][0])),
          staged_wins);
  r.claim(fmt::format("the same with the unfrozen layers at 0.1× the rate, a common fine-tuning recipe ({} vs {})",
                      study::pct(acc[2][0]), study::pct(acc[0][0])),
          acc[2][0] > acc[0][0], false);
  r.claim(fmt::format("the reused layers frozen throughout (a linear probe) beat training from scratch ({} vs {})",
                      study::pct(acc[1][0]), study::pct(acc[0][0])),
          acc[1][0] > acc[0][0], false);
  const double gain_few = acc[3][0] - acc[0][0], gain_many = acc[3].back() - acc[0].back();
  r.claim(fmt::format("the gain of reuse shrinks as labels grow: staged minus scratch is {:+.2f} points with {} images "
                      "per class, {:+.2f} with {}",
                      100 * gain_few, few, 100 * gain_many, many),
          gain_few - gain_many > 0.01);
  r.finding(fmt::format(
      "Transfer {} here under two conditions: few labels ({} per class) and reused layers that, once unfrozen, learn "
      "at the full rate — staged unfreezing then reaches {} against {} from scratch. Slowed to 0.1× the rate, the "
      "reused layers cannot adapt within the budget ({}), and frozen throughout they make a poor probe ({}; given 20× "
      "the epochs, {}): features learned on shirts, trousers and coats do not separate sandals, sneakers, bags and "
      "boots by themselves, but they are a better starting point than random weights. With {} images per class "
      "training from scratch {} ({} vs {}): these classes are told apart from raw pixels easily, so reuse pays only "
      "when labels are scarce.",
      staged_wins ? "pays" : "did not pay", few, study::pct(acc[3][0]), study::pct(acc[0][0]), study::pct(acc[2][0]),
      study::pct(acc[1][0]), study::pct(probe_long), many,
      acc[0].back() >= acc[3].back() ? "catches up" : "comes within reach", study::pct(acc[0].back()),
      study::pct(acc[3].back())));
}
}  // namespace

void study_transfer(StudyReport& r, const StudyOptions& o) {
  const std::vector<std::size_t> sizes = o.quick ? std::vector<std::size_t>{10, 50} : std::vector<std::size_t>{10, 50, 200};
  // 20 epochs even in the quick form: unfreezing one block every 5 epochs needs 10 to unfreeze both.
  const std::size_t pre_epochs = o.quick ? 2 : 5, epochs = 20;
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
                        "linear probe); staged: frozen, then unfrozen one block every 5 epochs from the top, the "
                        "unfrozen blocks at 0.1× the rate or at the full rate");
  r.setting("sizes", sizes);
  r.setting("seed", seed);
  Sequential pre(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(6), nn::softmax()}, seed);
  Adam pre_adam(AdamOptions{.lr = 1e-3});
  const double pre_acc = study::fit(pre, LossKind::CrossEntropy, pre_adam, clothing, nullptr, study::recipe(pre_epochs, 128, seed))
                             .back()
                             .train_acc;
  r.columns({"images per class", "scratch", "frozen", "staged, 0.1× rate", "staged, full rate"});
  std::vector<double> xs(sizes.begin(), sizes.end());
  Accuracies acc;
  for (std::size_t per : sizes) {
    const Dataset few = first_per_class(target, per);
    std::vector<std::string> row{std::to_string(per)};
    for (int v = 0; v < kVariants; ++v) {
      Sequential m(784, {nn::dense(256), nn::relu(), nn::dense(128), nn::relu(), nn::dense(4), nn::softmax()}, seed);
      Recipe recipe = study::recipe(epochs, 16, seed);
      if (v > 0) {  // the two reused blocks frozen; staged: unfrozen one by one, every 5 epochs
        copy_matching_layers(m, pre);
        recipe.freeze = 2;
        recipe.unfreeze_every = v >= 2 ? 5 : 0;
        recipe.unfrozen_lr_scale = v == 2 ? 0.1 : 1.0;
      }
      Adam adam(AdamOptions{.lr = 1e-3});
      const double a = study::fit(m, LossKind::CrossEntropy, adam, few, &target_test, recipe)
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
  r.numbers()["staged_slow"] = acc[2];
  r.numbers()["staged"] = acc[3];
  r.line_chart("Test accuracy on the new classes", "labelled images per class", "test accuracy", xs,
               {{"scratch", acc[0], true},
                {"frozen (reused)", acc[1]},
                {"staged, 0.1× rate", acc[2]},
                {"staged, full rate", acc[3]}},
               "Reused layers unfrozen in stages at the full rate lead where labels are fewest; as labels grow, "
               "training from scratch catches up. Frozen, or slowed to 0.1× the rate, the reused clothing features "
               "fall behind: by themselves they separate the new classes poorly.",
               {.xlog = true});
  transfer_claims(r, sizes, acc, probe_long);
}

}  // namespace gradflow::runs
