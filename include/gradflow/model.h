// Model: a model as one value — the whole function from raw input to answer.
//
//   raw x [N, F]  →  impute (NaN → the training set's fill value, when trained with it)
//                 →  standardize ((x − mean) / std, when trained with it)
//                 →  the network, evaluation mode  →  out [N, K]
//   K = the class probabilities (softmax/sigmoid applied; names in info.class_names) or values
//
// with the input contract it was trained under: the features' names and order, the training
// inputs' range and form (info.range; inputs far outside it are flagged by check_inputs). The
// CLI's predict and eval, Python's gradflow.Model, model files (safetensors, bytes) and ONNX all
// carry and apply the same steps, so a model answers the same through every front door.
//
// Predicting is const and keeps nothing between calls: any number of threads may predict with
// one Model (or one Sequential) at once and get the one-thread bits.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "gradflow/model_file.h"
#include "gradflow/sequential.h"

namespace gradflow {

// Rows per block of predict_rows (Python's predict default) and the largest block it takes: a
// larger batch_size is taken as this, so the buffers stay bounded by the rows.
inline constexpr std::size_t kPredictBatch = 64;
inline constexpr std::size_t kMaxPredictBatch = 4096;

struct Model {
  std::shared_ptr<Sequential> network;
  ModelInfo info;

  Model() = default;
  explicit Model(std::shared_ptr<Sequential> net, ModelInfo model_info = {});
  // A model file's network and info; its training state (optimizer tensors, the
  // "gradflow.training" entry) stays behind: a Model is what the network computes.
  explicit Model(ModelFile&& file);

  // The network's inputs made from raw ones, in place: missing values filled, standardized.
  // Throws std::invalid_argument naming both counts when x has another number of features, and
  // naming the sample and feature of a value that is not finite after filling.
  void prepare(Tensor& x) const;
  // InputRange::check of raw x against the training range: a warning line, or "".
  std::string check_inputs(const Tensor& raw) const;
  // raw x [N, F] → out [N, K] (prepare, then predict_rows). Throws as prepare and predict_rows.
  void predict(const Tensor& raw, Tensor& out, std::size_t batch_size = kPredictBatch) const;
  // Whether the output is a regression's values (no class probabilities).
  bool regression() const;
};

// The network's outputs for x [N, in_features] in blocks of batch_size rows (at most
// kMaxPredictBatch), the last block padded with zeros: every sample takes the same code path, so
// its output depends on it alone, not on the rows it came with (scikit-learn's subset
// invariance). Throws std::runtime_error naming the first row whose output is not finite (the
// weights or inputs overflow float32) — never a NaN answer.
void predict_rows(const Sequential& network, const Tensor& x, Tensor& out, std::size_t batch_size = kPredictBatch);

// Model files (model_file.h), whole: saving keeps every step; read_model reads .safetensors or
// .onnx (load_any_model); bytes come back as Model(deserialize_model(bytes)).
void save_model(const std::string& path, const Model& model);
std::string serialize_model(const Model& model);
Model read_model(const std::string& path);

}  // namespace gradflow
