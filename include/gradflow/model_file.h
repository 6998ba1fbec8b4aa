// Model files in the safetensors format, named and shaped as PyTorch's nn.Sequential
// state_dict, so they load in torch (see tools/torch_bridge.py) and back.
//
//   [u64 little-endian N][N bytes of JSON header, space-padded][raw little-endian tensor data]
//   header: {"k.weight": {"dtype": "F32", "shape": [out, in], "data_offsets": [begin, end]}, …,
//            "__metadata__": {"gradflow.architecture": "[{\"type\": \"Linear\", …}, …]",
//                             "gradflow.input": "{\"features\": F, \"mean\": […], \"std\": […],
//                                                 \"names\": […], \"label\": …, \"impute\": …, \"fill\": […],
//                                                 \"min\": […], \"max\": […], \"form\": …,
//                                                 \"ignored\": […]}",
//                             "gradflow.classes": "[…]", "gradflow.loss": "cross_entropy"}}
//
// The layer at index k of the model is module k of the nn.Sequential: Dense is Linear
// (k.weight [out, in], k.bias [out]), PReLU has k.weight [num_parameters], activations have
// no tensors. The architecture lists each layer with PyTorch's class and argument names.
//
// Reading validates everything before trusting it (header length against the file size, the
// JSON, dtypes, shapes against the architecture, offsets inside the data and not overlapping)
// and throws std::runtime_error naming the file and the problem. Writing is atomic: a
// temporary file in the same folder, then rename — a crash never leaves a torn file.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gradflow/data/impute.h"
#include "gradflow/data/input_range.h"
#include "gradflow/data/standardize.h"
#include "gradflow/sequential.h"

namespace gradflow {

// What travels with a model besides its layers.
struct ModelInfo {
  Standardizer input{};                  // empty when the inputs are used as they are
  Imputer impute{};                      // fills missing features before standardizing (or empty)
  InputRange range{};                    // the raw training inputs' range (or empty: unknown)
  std::vector<std::string> feature_names{};  // optional (a CSV header): predict matches columns by these
  std::string label_name{};              // optional: the label column's name, ignored at predict time
  std::vector<std::string> ignored_columns{};  // a CSV header's columns left out in training: ignored too
  std::vector<std::string> class_names{};  // optional
  std::string loss{};                    // the loss it was trained with ("" if unknown)
  // Training checkpoints: extra __metadata__ entries ("gradflow.training": epoch, RNG states,
  // schedule) and flat tensors named "optimizer.<state>" (F32, [num_params]).
  std::map<std::string, std::string> metadata{};
  std::vector<std::pair<std::string, const Tensor*>> tensors{};
};

struct ModelFile {
  std::unique_ptr<Sequential> model;
  ModelInfo info;  // info.tensors point into `tensors`
  std::map<std::string, Tensor> tensors;  // the "optimizer.*" tensors, if any
  std::string note;  // how a reader interpreted the file, when it chose (ONNX import: the output's task)
};

void save_model(const std::string& path, const Sequential& model, const ModelInfo& info = {});
ModelFile load_model(const std::string& path);
// The same file as bytes, and back (values before files: pickling, a database, the network).
// `name` starts every error message of the reader ("model bytes: …").
std::string serialize_model(const Sequential& model, const ModelInfo& info = {});
ModelFile deserialize_model(std::string_view bytes, const std::string& name = "model bytes");

// The architecture as the JSON stored in gradflow.architecture (PyTorch class/argument names),
// and back (throws std::runtime_error on anything it does not know).
std::string architecture_json(const Sequential& model);
// More layers than this in a model file or --layers is an error, not a network.
inline constexpr std::size_t kMaxLayers = 10000;
std::vector<LayerSpec> parse_architecture(const std::string& json, std::size_t& in_features);

// The rule for weights and statistics read from elsewhere (model files, ONNX): every value
// finite, and a variance (a tensor named "….running_var") never negative — evaluating such a
// model would print NaN probabilities with exit 0. "" when `values` keep it, else
// "element I is V (expected …)".
std::string bad_state_value(std::string_view name, std::span<const float> values);

// Write bytes to path atomically (temporary file + rename in the same folder).
void write_file_atomic(const std::string& path, const std::string& bytes);
// Appends `line` and a newline to the file at path (created if missing) in one write: all of it
// or, when the write fails part-way (a full disk), none — the file is cut back to where it was.
// Throws std::runtime_error naming the file and the cause. (Run folders' logs.)
void append_line(const std::string& path, const std::string& line);

}  // namespace gradflow
