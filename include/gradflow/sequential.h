// Sequential: an acyclic feed-forward network, layers applied in order.
//
//   Sequential net(784, {nn::dense(256), nn::relu(), nn::dense(10), nn::softmax()}, seed);
//
// Structure + parameters, as the lecture puts it: the layer specs are the structure; all
// parameters live in one contiguous buffer (and all gradients in another), each layer viewing
// its slice, so an optimizer is one loop over a span and a checkpoint is one copy.
//
// The forward pass keeps every layer's output (z for a Dense, a for an activation), which the
// backward pass — one scan from the top, applying the chain rule — reads back. The input's
// gradient is computed only when asked for; below the lowest trainable layer no gradient work
// is done at all (frozen lower layers cost a forward pass only).
//
// Gradient rule: backward assigns (see layer.h).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gradflow/dense.h"
#include "gradflow/layer.h"
#include "gradflow/rng.h"
#include "gradflow/tensor.h"

namespace gradflow {

// The specs with every Init::Default resolved as Sequential resolves it (from the activation
// after each Dense: He for the ReLU family, LeCun for SELU, else Glorot), as specs() returns them.
std::vector<LayerSpec> resolve_inits(std::vector<LayerSpec> specs);

class Sequential {
 public:
  static constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

  // Builds the layers for inputs of in_features, resolves Init::Default for every Dense from
  // the activation after it (He for the ReLU family, LeCun for SELU, Glorot otherwise),
  // allocates the parameters and initializes them from seed. The model keeps an Rng, derived
  // from the same seed, for its training noise (RReLU).
  Sequential(std::size_t in_features, std::vector<LayerSpec> layers, std::uint64_t seed = 0);
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;

  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_.at(i); }
  const Layer& layer(std::size_t i) const { return *layers_.at(i); }
  std::size_t in_features() const { return in_features_; }
  std::size_t out_features() const;
  std::vector<LayerSpec> specs() const;
  // One line per layer with its output size and parameter count.
  std::string summary() const;
  // The shape in one line: "784-512(bn)(relu)(dropout 0.1)-10(softmax)".
  std::string outline() const;

  // Runs layers [0, upto) on x [B, in_features] and returns the last one's output [B, ·]
  // (valid until the next forward). x must stay alive until backward.
  const Tensor& forward(const Tensor& x, Mode mode, std::size_t upto = kAll);
  // Output of layer i in the last forward.
  const Tensor& output(std::size_t i) const { return outputs_.at(i); }

  // What an evaluation writes: every layer's output, the transposed activations a Dense hands
  // to the next, the Dense layers' scratch. One per call or per thread; reused, it allocates
  // nothing after its first batch of a size.
  struct Workspace {
    std::vector<Tensor> outputs, toutputs;
    Dense::Scratch dense;
  };
  // forward(x, Mode::Eval, upto) with everything it writes in `ws`: const, so any number of
  // threads may evaluate one model at once (each with its own workspace) and get the bits of
  // forward(x, Mode::Eval, upto). The result lives in ws until its next use.
  const Tensor& evaluate(const Tensor& x, Workspace& ws, std::size_t upto = kAll) const;

  // Backward through layers [0, upto) of the last forward (same upto), given dy = ∂L/∂(output
  // of layer upto−1). Assigns every trainable layer's parameter gradients. If dx != nullptr it
  // receives ∂L/∂x [B, in_features]; otherwise no work is spent on it.
  void backward(const Tensor& dy, std::size_t upto = kAll, Tensor* dx = nullptr);

  // All parameters / gradients, flat, in layer order (each layer's param_shapes() order).
  Tensor& parameters() { return params_; }
  const Tensor& parameters() const { return params_; }
  Tensor& gradients() { return grads_; }
  std::size_t num_params() const { return params_.size(); }
  // Offset of layer i's first parameter in the flat buffers.
  std::size_t param_offset(std::size_t i) const { return offsets_.at(i); }

  // Every layer's Layer::set_first_row (data-parallel slices of a batch).
  void set_first_row(std::size_t row) {
    for (auto& l : layers_) l->set_first_row(row);
  }

  // Rng for training noise; part of the model's state.
  Rng& rng() { return rng_; }

  // Training writes the model; two at once would corrupt it. A Trainer holds this claim while
  // it trains (fit, step); a claim from another thread meanwhile throws std::logic_error instead
  // of corrupting the model (two threads calling fit on one model), one from the same thread is
  // the same training. Released when the claim that took it is destroyed.
  class TrainingClaim {
   public:
    explicit TrainingClaim(Sequential& model);
    ~TrainingClaim();
    TrainingClaim(const TrainingClaim&) = delete;
    TrainingClaim& operator=(const TrainingClaim&) = delete;

   private:
    Sequential& model_;
    bool owner_;
  };

  // Everything that defines what the model computes: parameters, buffers (BatchNorm running
  // statistics and batch counts). Early stopping keeps the best epoch's state this way.
  struct State {
    Tensor params;
    std::vector<Tensor> buffers;
    std::vector<std::int64_t> counters;
  };
  State snapshot();
  void restore(const State& s);

 private:
  // The execution plan: how forward, evaluate and backward walk the layers, in stages computed
  // once from the layer kinds when the model is built — a layer alone; a Dense and the
  // point-wise activation after it as one fused pass (Dense::forward_fused); a BatchNorm, its
  // point-wise activation and a Dropout after them as one group (BatchNorm::forward_fused; run
  // layer by layer while the BatchNorm is synchronized across processes). Each stage gives the
  // same outputs as its layers run one by one.
  struct Stage {
    enum Kind : std::uint8_t { Single, DensePair, BatchNormGroup } kind;
    std::size_t first, count;  // layers [first, first + count)
    std::size_t last() const { return first + count - 1; }
  };
  static std::vector<Stage> make_plan(const std::vector<std::unique_ptr<Layer>>& layers);
  // The stages of layers [0, upto): the plan's first ones, and the one upto cuts through
  // shortened (a Dense without its activation, a BatchNorm group without its dropout) — a view,
  // so that a step allocates nothing.
  struct Stages {
    const Stage* whole;  // the plan's stages entirely below upto
    std::size_t n;
    Stage cut;  // the stage upto cuts through, shortened; count 0: none
    std::size_t size() const { return n + (cut.count > 0 ? 1 : 0); }
    const Stage& operator[](std::size_t k) const { return k < n ? whole[k] : cut; }
  };
  Stages stages(std::size_t upto) const;
  bool group_runs_fused(const Stage& s) const;

  std::size_t in_features_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<std::size_t> offsets_;
  std::vector<Stage> plan_;
  Tensor params_, grads_;
  std::vector<Tensor> outputs_;  // outputs_[i]: output of layer i
  std::vector<Tensor> doutputs_;  // doutputs_[i]: ∂L/∂(output of layer i), i < top
  // toutputs_[i]: output of layer i transposed, when it feeds a Dense whose forward runs
  // transposed (Dense::forward_fused's at).
  std::vector<Tensor> toutputs_;
  const Tensor* input_ = nullptr;
  Rng rng_;
  std::atomic<std::thread::id> trainer_{};  // the thread that holds the TrainingClaim, if any
};

}  // namespace gradflow
