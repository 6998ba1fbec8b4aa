// The lecture's first story: a perceptron cannot learn XOR; one hidden layer with a
// non-linearity can.
#include <gradflow/gradflow.h>

#include <cstdio>

int main() {
  using namespace gradflow;
  const Dataset xor_data = synthetic::xor_gate();

  std::vector<int> targets;
  for (std::size_t i = 0; i < 4; ++i) targets.push_back(xor_data.y[i] > 0.5f ? 1 : -1);
  Perceptron p(2);
  std::printf("perceptron: %zu of 4 points wrong after 1000 epochs\n", p.fit(xor_data.x, targets, 1000));

  Sequential net(2, {nn::dense(4), nn::tanh(), nn::dense(2), nn::softmax()}, /*seed=*/0);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.5);
  TrainOptions opts{.epochs = 2000, .batch_size = 4};
  Trainer(net, ce, sgd, opts).fit(xor_data);
  std::printf("2-4-2 tanh MLP: accuracy %.0f%%\n", 100 * evaluate(net, ce, xor_data).accuracy);
  Tensor probs;
  predict(net, xor_data.x, probs);
  for (std::size_t i = 0; i < 4; ++i)
    std::printf("  %g xor %g -> P(1) = %.3f\n", xor_data.x(i, 0), xor_data.x(i, 1), probs(i, 1));
}
