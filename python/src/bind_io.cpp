// Model files (the CLI's safetensors files, also as bytes for pickling) and data sets.
#include <pybind11/stl.h>

#include <filesystem>

#include <fmt/format.h>

#include "arrays.h"
#include "bindings.h"
#include "temp_folder.h"
#include "gradflow/data/csv.h"
#include "gradflow/data/idx.h"
#include "gradflow/data/synthetic.h"
#include "gradflow/model_file.h"
#include "gradflow/onnx.h"

namespace gradflow::python {

namespace {

namespace fs = std::filesystem;

ModelInfo info_of(const std::vector<std::string>& class_names, const std::vector<std::string>& feature_names,
                  const std::string& loss) {
  ModelInfo info;
  info.class_names = class_names;
  info.feature_names = feature_names;
  info.loss = loss;
  return info;
}

py::tuple model_and_info(ModelFile mf) {
  py::dict info;
  info["class_names"] = mf.info.class_names;
  info["feature_names"] = mf.info.feature_names;
  info["label_name"] = mf.info.label_name;
  info["loss"] = mf.info.loss;
  info["standardized"] = !mf.info.input.empty();
  info["imputed"] = !mf.info.impute.empty();
  return py::make_tuple(std::move(mf.model), info);
}

py::bytes model_to_bytes(const Sequential& model, const std::vector<std::string>& class_names,
                         const std::vector<std::string>& feature_names, const std::string& loss) {
  TempFolder t;
  const fs::path file = t.path / "model.safetensors";
  save_model(file.string(), model, info_of(class_names, feature_names, loss));
  return py::bytes(read_file(file));
}

py::tuple model_from_bytes(const py::bytes& data) {
  TempFolder t;
  const fs::path file = t.path / "model.safetensors";
  write_file_atomic(file.string(), data);
  return model_and_info(load_model(file.string()));
}

py::tuple xy(const Dataset& d) {
  py::array_t<float> y = to_numpy(d.y);
  return py::make_tuple(to_numpy(d.x), d.y.cols() == 1 ? py::array(y.attr("ravel")()) : py::array(y));
}

void bind_data(py::module_& m) {
  py::module_ data = m.def_submodule("data", "Data sets: CSV and IDX files, Fashion-MNIST, synthetic sets.");
  data.def(
      "read_csv",
      [](const std::string& path, const std::string& label_column, bool regression) {
        csv::Options o;
        o.label_column = label_column;
        o.regression = regression;
        o.encode_numeric_labels = true;
        const Dataset d = csv::read(path, o);
        py::tuple t = xy(d);
        return py::make_tuple(t[0], t[1], py::dict(py::arg("class_names") = d.class_names,
                                                   py::arg("feature_names") = d.feature_names,
                                                   py::arg("label_name") = d.label_name));
      },
      py::arg("path"), py::arg("label_column") = csv::Options{}.label_column, py::arg("regression") = false,
      "(X, y, info) from a CSV file, read as `gradflow train --data FILE.csv` reads it.");
  data.def(
      "fashion_mnist", [](bool train) { return xy(idx::fashion_mnist(idx::kFashionMnistDir, train)); },
      py::arg("train") = true, "(X [n, 784] in [0, 1], y) from Debian's dataset-fashion-mnist.");
  data.def("xor", [] { return xy(synthetic::xor_gate()); });
  data.def(
      "spirals", [](std::size_t n, std::size_t arms, float noise, std::uint64_t seed) {
        return xy(synthetic::spirals(n, arms, noise, seed));
      },
      py::arg("n"), py::arg("arms") = 2, py::arg("noise") = 0.1f, py::arg("seed") = 0);
  data.def(
      "moons", [](std::size_t n, float noise, std::uint64_t seed) { return xy(synthetic::moons(n, noise, seed)); },
      py::arg("n"), py::arg("noise") = 0.1f, py::arg("seed") = 0);
}

}  // namespace

void bind_io(py::module_& m) {
  m.def(
      "save_model",
      [](const std::string& path, const Sequential& model, const std::vector<std::string>& class_names,
         const std::vector<std::string>& feature_names, const std::string& loss) {
        save_model(path, model, info_of(class_names, feature_names, loss));
      },
      py::arg("path"), py::arg("model"), py::arg("class_names") = std::vector<std::string>{},
      py::arg("feature_names") = std::vector<std::string>{}, py::arg("loss") = std::string(),
      "Writes the model as the CLI does (safetensors, named as torch's nn.Sequential state_dict).");
  m.def("load_model", [](const std::string& path) { return model_and_info(load_any_model(path)); }, py::arg("path"),
        "(model, info) from a model file (.safetensors, or .onnx: see model_from_onnx).");
  m.def("model_to_bytes", &model_to_bytes, py::arg("model"), py::arg("class_names") = std::vector<std::string>{},
        py::arg("feature_names") = std::vector<std::string>{}, py::arg("loss") = std::string());
  m.def("model_from_bytes", &model_from_bytes, py::arg("data"));
  m.def(
      "model_to_onnx",
      [](const Sequential& model, const std::vector<std::string>& class_names,
         const std::vector<std::string>& feature_names, const std::string& loss, int opset) {
        return py::bytes(to_onnx(model, info_of(class_names, feature_names, loss), {.opset = opset}));
      },
      py::arg("model"), py::arg("class_names") = std::vector<std::string>{},
      py::arg("feature_names") = std::vector<std::string>{}, py::arg("loss") = std::string(),
      py::arg("opset") = OnnxExportOptions{}.opset,
      fmt::format("The model's evaluation function as an ONNX model (bytes): input 'input' float32 [batch, "
                  "features], output 'output' [batch, outputs]; the names and loss as metadata_props. Checked by "
                  "ONNX's checker before it is returned. opset: {} to {}.",
                  kOnnxMinOpset, kOnnxMaxOpset)
          .c_str());
  m.def(
      "model_from_onnx", [](const py::bytes& data) { return model_and_info(from_onnx(data, "ONNX model")); },
      py::arg("data"),
      "(model, info) from ONNX bytes: the MLP subset (Gemm or MatMul + Add, BatchNormalization, the activations, "
      "Dropout, Identity), as torch.onnx.export writes it for nn.Sequential. Anything else is a RuntimeError "
      "naming the node and its op type.");
  bind_data(m);
}

}  // namespace gradflow::python
