#include <gradflow/gradflow.h>

#include <cstdio>

int main() {
  using namespace gradflow;
  const Dataset d = synthetic::xor_gate();
  Sequential net(2, {nn::dense(4), nn::tanh(), nn::dense(2), nn::softmax()}, 0);
  Loss ce(LossKind::CrossEntropy);
  SGD sgd(0.5);
  TrainOptions o{.epochs = 2000, .batch_size = 4};
  Trainer(net, ce, sgd, o).fit(d);
  const double acc = evaluate(net, ce, d).accuracy;
  std::printf("xor accuracy %.2f\n", acc);
  return acc == 1.0 ? 0 : 1;
}
