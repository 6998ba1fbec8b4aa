// ONNX: a model leaves for any ONNX runtime (ONNX Runtime, OpenCV DNN, TensorRT, …), and an MLP
// trained elsewhere (PyTorch's torch.onnx.export, Keras via tf2onnx) comes in.
//
// Export writes the model's evaluation function, taking raw features exactly as `gradflow
// predict` does:
//
//   input  "input"  float32 [batch, F]     (batch is dynamic)
//     IsNaN + Where(fill)                  imputation, when the model has it (NaN → fill[j])
//     Sub(mean), Div(std)                  standardization, when it has it (std < 1e-8 → 1)
//     layer k, one entry per kind (src/io/onnx_export.cpp):
//       Dense → Gemm (transB = 1; weights "k.weight" [out, in], "k.bias" [out]);
//       Sigmoid, Tanh, ReLU, ELU (alpha), SELU (PyTorch's alpha and scale), Softmax (axis 1),
//       LeakyReLU → LeakyRelu; RReLU → LeakyRelu with slope (lower + upper)/2, its evaluation;
//       PReLU → PRelu ("k.weight", [1] or [units]);
//       BatchNorm → BatchNormalization with the running statistics (momentum 1 − PyTorch's);
//       Dropout, Identity → no node.
//   output "output" float32 [batch, outputs]  (softmax/sigmoid probabilities for a classifier)
//
// with the feature names, label name, class names, loss and imputation strategy as
// metadata_props ("gradflow.features" etc., JSON lists). What ONNX does not keep: training
// state (optimizer, RNG), dropout and RReLU's training noise, initializer choices.
// The file passes onnx::checker and shape inference before it is written (atomically).
//
// Import takes the MLP subset of ONNX: one float input [batch, F] with F fixed, a chain of
// Gemm (or MatMul + Add), the activations above, BatchNormalization, Dropout and Identity
// (PyTorch writes them), optionally our own imputation and standardization in front, the
// weights as initializers or Constant nodes. Anything else — another op, a branch, a second
// input, external data, a tensor whose dims disagree with its data — is a std::runtime_error
// naming the file, the node and its op type. Allocation is bounded by the file's size.
#pragma once

#include <string>
#include <vector>

#include "gradflow/model_file.h"

namespace gradflow {

struct OnnxExportOptions {
  int opset = 13;  // the default domain's opset version: kOnnxMinOpset … kOnnxMaxOpset
};
// 11: Gemm's bias optional; 17: the newest that ONNX 1.12 (Debian's checker) knows.
inline constexpr int kOnnxMinOpset = 11, kOnnxMaxOpset = 17;

// The serialized ModelProto; throws std::invalid_argument for an opset outside the range.
std::string to_onnx(const Sequential& model, const ModelInfo& info = {}, const OnnxExportOptions& options = {});
void save_onnx(const std::string& path, const Sequential& model, const ModelInfo& info = {},
               const OnnxExportOptions& options = {});

// What an imported model's output is, when the file does not say (PyTorch's usual classifier
// ends in nn.Linear: its logits).
struct OnnxImportOptions {
  // "": the file's gradflow.loss, else what the output layer implies (softmax: cross_entropy,
  // sigmoid: binary_cross_entropy, else mse). "classification": an output without softmax or
  // sigmoid is the logits, and the model gets the Softmax (Sigmoid for one output) that turns
  // them into probabilities. "regression": the outputs are values (mse); a file whose output
  // layer is a softmax or sigmoid is refused.
  std::string task;
  std::vector<std::string> class_names;  // replace the file's: one per class (two for one sigmoid output)
};

// A model from ONNX bytes (`source` names them in errors) or an .onnx file. The ModelFile's
// `note` says what the import chose for the output ("softmax appended to the logits: …").
ModelFile from_onnx(const std::string& bytes, const std::string& source, const OnnxImportOptions& options = {});
ModelFile load_onnx(const std::string& path, const OnnxImportOptions& options = {});

// load_onnx for a path ending in .onnx, else load_model: what every command that reads a model takes.
ModelFile load_any_model(const std::string& path);

}  // namespace gradflow
