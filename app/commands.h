// The subcommands of the gradflow tool (train: train_command.cpp; the others: commands.cpp). Each returns the process exit code and throws
// std::exception with a one-line message on bad input (main prints it).
#pragma once

#include <string>
#include <vector>

#include "runs/board.h"
#include "runs/recipe.h"
#include "gradflow/onnx.h"

namespace gradflow::app {

// The tool speaks the runs component's names (src/runs/: recipes, run folders, reports, studies).
using namespace gradflow::runs;

struct EvalArgs {
  std::string model, data = "fashion-mnist";
  std::string label_column;  // "" : the model's label column if the header has it, else the last
  std::size_t batch_size = 1000;
  int threads = 0;
};

struct PredictArgs {
  std::string model, input, label_column, format = "csv";
  int threads = 0;
};

struct ExportArgs {
  std::string model, format = "onnx", out;  // out "": beside the model, its extension .onnx
  int opset = OnnxExportOptions{}.opset;
  bool force = false;  // replace an existing out (output_file.h)
};

struct ImportArgs {
  std::string file, out;  // out "": beside the file, its extension .safetensors
  std::string task;       // "", classification, regression (OnnxImportOptions::task)
  std::vector<std::string> classes;  // class names (OnnxImportOptions::class_names)
  bool force = false;                // replace an existing out (output_file.h)
};

int train(const Recipe& config);  // train_command.cpp
// A model argument: a model file, or a run folder (its model.safetensors).
std::string model_path(const std::string& model);
int eval(const EvalArgs& args);
int predict(const PredictArgs& args);
int export_model(const ExportArgs& args);
int board(const BoardOptions& options);  // board_command.cpp
int import_model(const ImportArgs& args);

}  // namespace gradflow::app
