// The README's example: build a deep ReLU MLP, train it with minibatch SGD, and watch the
// test loss after each epoch.
#include <gradflow/gradflow.h>

#include <cstdio>

int main() {
  using namespace gradflow;
  const Dataset train = synthetic::spirals(500, 2, 0.1f, /*seed=*/1);
  const Dataset test = synthetic::spirals(250, 2, 0.1f, /*seed=*/2);

  Sequential net(2, {nn::dense(32), nn::relu(), nn::dense(32), nn::relu(),   // He init (default
                     nn::dense(32), nn::relu(), nn::dense(2), nn::softmax()},  // for ReLU)
                 /*seed=*/4);
  Loss loss(LossKind::CrossEntropy);  // fused with the softmax output
  SGD sgd(0.05);
  TrainOptions opts{.epochs = 100, .batch_size = 32};
  Trainer trainer(net, loss, sgd, opts);
  for (const EpochMetrics& m : trainer.fit(train, &test))
    if (m.epoch % 20 == 0)
      std::printf("epoch %3zu  train loss %.4f  test loss %.4f  test acc %.1f%%\n", m.epoch,
                  m.train_loss, m.test_loss, 100 * m.test_acc);
}
