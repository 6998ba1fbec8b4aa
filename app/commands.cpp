// `gradflow eval`, `predict`, `export` and `import` (train: train_command.cpp).
#include "commands.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runs/data_source.h"
#include "runs/output_file.h"
#include "runs/run_folder.h"
#include "gradflow/detail/quote.h"
#include "gradflow/gradflow.h"

namespace gradflow::app {

namespace fs = std::filesystem;
using detail::quote;

std::string model_path(const std::string& m) {
  return fs::is_directory(m) ? RunFolder(m).model() : m;
}

namespace {
bool is_number(const std::string& s) {
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0' && end != s.c_str();
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

Model open_model(const std::string& m, int threads) {
  set_num_threads(threads);
  return read_model(model_path(m));
}

// The model's steps from raw inputs (Model::prepare), its errors naming the file.
void prepare_inputs(const Model& model, const std::string& file, Tensor& x) {
  try {
    model.prepare(x);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(fmt::format("input '{}': {}", file, e.what()));
  }
}

// One warning line when the inputs lie far outside what the model was trained on.
void warn_about_inputs(const Model& model, const std::string& file, const Tensor& raw) {
  const std::string w = model.check_inputs(raw);
  if (!w.empty()) fmt::print(stderr, "warning: input '{}': {}\n", detail::printable(file), detail::printable(w));
}
}  // namespace

int eval(const EvalArgs& a) {
  const Model mf = open_model(a.model, a.threads);
  const Loss loss(parse_loss(mf.info.loss.empty() ? "cross_entropy" : mf.info.loss));
  // The default data (Fashion-MNIST) is not what a model trained on a CSV file evaluates on.
  if (a.data == EvalArgs{}.data && !mf.info.feature_names.empty())
    throw std::runtime_error(fmt::format("{} was trained on a CSV file ({} features: {}): pass the data to evaluate "
                                         "on with --data FILE.csv",
                                         model_path(a.model), mf.info.feature_names.size(),
                                         quote(join_names(mf.info.feature_names))));
  // The label by the name it had in training when the model knows it and the file has a header
  // (found wherever the column is; a file without it is an error naming it), else the last column.
  std::string label = a.label_column;
  if (label.empty()) {
    const bool header = !mf.info.feature_names.empty() && is_delimited_text(a.data) && [&] {
      const auto first = csv::first_line(a.data);
      return std::any_of(first.begin(), first.end(),
                         [&](const std::string& f) { return !f.empty() && !csv::is_missing(f) && !is_number(f); });
    }();
    label = header && !mf.info.label_name.empty() ? mf.info.label_name : "-1";
  }
  DataOptions dopt{.label_column = label,
                   .regression = loss.kind() == LossKind::MeanSquaredError,
                   .class_names = mf.info.class_names,
                   .feature_names = mf.info.feature_names,
                   .allow_missing = !mf.info.impute.empty(),
                   .ignore_columns = mf.info.ignored_columns};
  Dataset data = load_data(a.data, false, dopt);
  if (data.features() != mf.network->in_features())
    throw std::runtime_error(fmt::format("data '{}' has {} features, the model takes {}", a.data, data.features(),
                                         mf.network->in_features()));
  warn_about_inputs(mf, a.data, data.x);
  prepare_inputs(mf, a.data, data.x);
  data.validate(a.data);
  const std::size_t classes = mf.network->out_features() == 1 && loss.kind() == LossKind::BinaryCrossEntropy
                                  ? 2
                                  : mf.network->out_features();
  if (data.classification()) {
    for (std::size_t i = 0; i < data.size(); ++i)
      if (data.y[i] >= static_cast<float>(classes))
        throw std::runtime_error(fmt::format("data '{}': label {} of sample {} is out of range: the model has {} classes",
                                             a.data, data.y[i], i, classes));
    data.num_classes = classes;
  }
  const Evaluation ev = evaluate(*mf.network, loss, data, a.batch_size);
  if (!std::isfinite(ev.loss)) {  // name the row: predict_rows throws at the first non-finite output
    Tensor out;
    predict_rows(*mf.network, data.x, out);
    throw std::runtime_error(fmt::format("eval: the loss on '{}' is {}", a.data, ev.loss));
  }
  fmt::print("model {}: {} samples of {}\n", model_path(a.model), ev.samples, a.data);
  fmt::print("loss {:.6f} ({})\n", ev.loss, loss.name());
  if (!std::isnan(ev.accuracy)) fmt::print("accuracy {:.2f}%\n", 100 * ev.accuracy);
  if (ev.classes) {
    std::vector<std::string> names = mf.info.class_names;
    if (names.size() != ev.classes) {
      names.clear();
      for (std::size_t c = 0; c < ev.classes; ++c) names.push_back(std::to_string(c));
    }
    std::size_t w = 5;
    for (const auto& n : names) w = std::max(w, n.size());
    std::size_t cw = 6;  // columns: the predicted class, by the same names as the rows
    for (const auto& n : names) cw = std::max(cw, n.size());
    fmt::print("confusion matrix (rows: true class, columns: predicted)\n{:>{}} ", "", w);
    for (std::size_t c = 0; c < ev.classes; ++c) fmt::print(" {:>{}}", names[c], cw);
    fmt::print("\n");
    for (std::size_t t = 0; t < ev.classes; ++t) {
      fmt::print("{:>{}} ", names[t], w);
      for (std::size_t p = 0; p < ev.classes; ++p) fmt::print(" {:>{}}", ev.confusion[t * ev.classes + p], cw);
      fmt::print("\n");
    }
  }
  return 0;
}

int predict(const PredictArgs& a) {
  const Model mf = open_model(a.model, a.threads);
  if (fs::is_directory(a.input))
    throw std::runtime_error(fmt::format("--input {} is a folder; expected a file of samples: a CSV file of features "
                                         "or an IDX image file", a.input));
  Tensor x;
  if (is_delimited_text(a.input)) {
    csv::Options co;
    co.has_labels = !a.label_column.empty();
    if (co.has_labels) co.label_column = a.label_column;
    co.regression = true;  // any value is fine in an ignored column
    co.ignore_columns = mf.info.ignored_columns;
    if (!mf.info.label_name.empty()) co.ignore_columns.push_back(mf.info.label_name);
    co.feature_names = mf.info.feature_names;
    co.allow_missing = !mf.info.impute.empty();
    co.hints.impute = "predict fills missing values only for a model trained with --impute mean|median, and this "
                      "one was trained without";
    x = csv::read(a.input, co).x;
  } else {
    x = idx::read_images(a.input);
  }
  if (x.cols() != mf.network->in_features())
    throw std::runtime_error(fmt::format("input '{}' has {} features per sample, the model takes {}", a.input, x.cols(),
                                         mf.network->in_features()));
  warn_about_inputs(mf, a.input, x);
  prepare_inputs(mf, a.input, x);
  Tensor out;
  predict_rows(*mf.network, x, out);
  const bool regression = mf.regression();
  const std::size_t k = out.cols();
  if (a.format == "csv") {
    if (regression) {
      fmt::print("index");
      for (std::size_t j = 0; j < k; ++j) fmt::print(",y{}", j);
    } else {
      fmt::print("index,class{}", mf.info.class_names.empty() ? "" : ",label");
      for (std::size_t j = 0; j < (k == 1 ? 2 : k); ++j) fmt::print(",p{}", j);
    }
    fmt::print("\n");
  }
  for (std::size_t i = 0; i < out.rows(); ++i) {
    const float* r = out.row(i);
    std::vector<float> p(r, r + k);
    if (k == 1 && !regression) p = {1.0f - r[0], r[0]};
    const std::size_t cls = regression ? 0 : (k == 1 ? (r[0] > 0.5f ? 1 : 0) : predicted_class(r, k));
    if (a.format == "json") {
      nlohmann::ordered_json j{{"index", i}};
      if (regression) j["y"] = p;
      else {
        j["class"] = cls;
        if (cls < mf.info.class_names.size()) j["label"] = mf.info.class_names[cls];
        j["probabilities"] = p;
      }
      fmt::print("{}\n", j.dump());
    } else {
      std::string line = fmt::format("{}", i);
      if (!regression) {
        line += fmt::format(",{}", cls);
        if (!mf.info.class_names.empty())
          line += fmt::format(",\"{}\"", detail::printable(cls < mf.info.class_names.size() ? mf.info.class_names[cls] : ""));
      }
      for (float v : p) line += fmt::format(",{:.6g}", v);
      fmt::print("{}\n", line);
    }
  }
  return 0;
}

int export_model(const ExportArgs& a) {
  const std::string from = model_path(a.model);
  const std::string out = !a.out.empty() ? a.out : fs::path(from).replace_extension(".onnx").string();
  check_output(out, OutputKind::Model, a.force);
  ModelFile mf = load_any_model(from);
  save_onnx(out, *mf.model, mf.info, {.opset = a.opset});
  fmt::print("exported {} to {} (ONNX opset {}): input 'input' [batch, {}] -> output 'output' [batch, {}]\n", from, out,
             a.opset, mf.model->in_features(), mf.model->out_features());
  return 0;
}

int import_model(const ImportArgs& a) {
  const std::string out = !a.out.empty() ? a.out : fs::path(a.file).replace_extension(".safetensors").string();
  check_output(out, OutputKind::Model, a.force);
  ModelFile mf = load_onnx(a.file, {.task = a.task, .class_names = a.classes});
  save_model(out, *mf.model, mf.info);
  if (!mf.note.empty()) fmt::print("output: {}\n", detail::printable(mf.note));
  fmt::print("imported {} (loss {}{}{}), saved to {}:\n{}\n", a.file, mf.info.loss,
             mf.info.impute.empty() ? "" : ", imputation", mf.info.input.empty() ? "" : ", standardization", out,
             mf.model->summary());
  return 0;
}

}  // namespace gradflow::app
