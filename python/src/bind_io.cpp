// Model files (the CLI's safetensors files, also as bytes for pickling) and data sets.
#include <pybind11/stl.h>

#include <fmt/format.h>

#include "arrays.h"
#include "bindings.h"
#include "without_gil.h"
#include "gradflow/data/csv.h"
#include "gradflow/data/idx.h"
#include "gradflow/data/synthetic.h"
#include "gradflow/model.h"
#include "gradflow/onnx.h"

namespace gradflow::python {

namespace {

ModelInfo info_of(const std::vector<std::string>& class_names, const std::vector<std::string>& feature_names,
                  const std::string& loss) {
  ModelInfo info;
  info.class_names = class_names;
  info.feature_names = feature_names;
  info.loss = loss;
  return info;
}

py::object vector_or_none(const std::vector<float>& v) {
  return v.empty() ? py::none() : py::object(py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data()));
}

// The steps before the network, as plain values: what Model.info shows.
py::dict info_dict(const ModelInfo& info) {
  py::dict d;
  d["class_names"] = info.class_names;
  d["feature_names"] = info.feature_names;
  d["label_name"] = info.label_name;
  d["loss"] = info.loss;
  d["standardized"] = !info.input.empty();
  d["imputed"] = !info.impute.empty();
  d["mean"] = vector_or_none(info.input.mean);
  d["std"] = vector_or_none(info.input.std);
  d["impute"] = info.impute.strategy;
  d["fill"] = vector_or_none(info.impute.fill);
  d["input_min"] = vector_or_none(info.range.min);
  d["input_max"] = vector_or_none(info.range.max);
  d["input_form"] = info.range.form;
  return d;
}

// Raw X → the model's answer, as the CLI's predict computes it; a warning when X lies far
// outside the training range, before the GIL is released.
py::array_t<float> model_predict(const Model& model, const py::handle& X, std::size_t batch_size) {
  FloatArray a = as_matrix(X, "X");
  if (model.info.impute.empty()) check_finite(a, "X");  // else NaN is a missing value, filled by predict
  Tensor x = view_of(a);
  if (x.cols() != model.network->in_features())
    throw py::value_error(fmt::format("X has {} features, but the model is expecting {} features as input", x.cols(),
                                      model.network->in_features()));
  const std::string warning = model.check_inputs(x);
  if (!warning.empty() && PyErr_WarnEx(PyExc_RuntimeWarning, warning.c_str(), 1) != 0) throw py::error_already_set();
  py::array_t<float> result({static_cast<py::ssize_t>(x.rows()), static_cast<py::ssize_t>(model.network->out_features())});
  Tensor out = Tensor::view(result.mutable_data(), x.rows(), model.network->out_features());  // written in place
  {
    WithoutGil released;
    model.predict(x, out, batch_size);
  }
  return result;
}

// A Model or a bare Sequential (with the names given beside it), for the writers.
Model model_of(const py::object& m, const std::vector<std::string>& class_names,
               const std::vector<std::string>& feature_names, const std::string& loss) {
  if (py::isinstance<Model>(m)) {
    if (!class_names.empty() || !feature_names.empty() || !loss.empty())
      throw py::value_error("class_names, feature_names and loss are the Model's own: set them on the Model");
    return m.cast<const Model&>();
  }
  return Model(m.cast<std::shared_ptr<Sequential>>(), info_of(class_names, feature_names, loss));
}

void bind_model_value(py::module_& m) {
  py::class_<Model>(m, "Model",
                    "A model as one value: the whole function from raw input to answer — imputation, standardization "
                    "and the network, with its classes, feature names and the training inputs' range. "
                    "load_model, model_from_bytes and model_from_onnx return one; predict(X) answers as `gradflow "
                    "predict` does. Safe to share between threads.")
      .def(py::init([](std::shared_ptr<Sequential> network, const std::vector<std::string>& class_names,
                       const std::vector<std::string>& feature_names, const std::string& loss) {
             return Model(std::move(network), info_of(class_names, feature_names, loss));
           }),
           py::arg("network"), py::arg("class_names") = std::vector<std::string>{},
           py::arg("feature_names") = std::vector<std::string>{}, py::arg("loss") = std::string())
      .def_property_readonly("network", [](const Model& mo) { return mo.network; }, "The Sequential (shared, not copied).")
      .def_property_readonly("class_names", [](const Model& mo) { return mo.info.class_names; })
      .def_property_readonly("feature_names", [](const Model& mo) { return mo.info.feature_names; })
      .def_property_readonly("loss", [](const Model& mo) { return mo.info.loss; })
      .def_property_readonly("info", [](const Model& mo) { return info_dict(mo.info); },
                             "The steps before the network and the output's names, as plain values.")
      .def("predict", &model_predict, py::arg("X"), py::arg("batch_size") = kPredictBatch,
           "The model's answer for raw X [samples, features]: missing values filled and X standardized as in "
           "training, then the network (softmax or sigmoid applied) — what `gradflow predict` prints, float32 "
           "[samples, outputs]. Warns (RuntimeWarning) when X lies far outside the training inputs' range; raises "
           "RuntimeError naming the row when an output is not finite. The GIL is released while it computes.")
      .def("check_inputs", [](const Model& mo, const py::handle& X) {
             FloatArray a = as_matrix(X, "X");
             return mo.check_inputs(view_of(a));
           },
           py::arg("X"), "The warning predict(X) would give about X's range ('' when none).")
      .def("save", [](const Model& mo, const std::string& path) { save_model(path, mo); }, py::arg("path"),
           "Writes the model file (safetensors) with every step, as the CLI does.")
      .def("to_bytes", [](const Model& mo) { return py::bytes(serialize_model(mo)); },
           "The model file's bytes (model_from_bytes reads them).")
      .def(py::pickle([](const Model& mo) { return py::bytes(serialize_model(mo)); },
                      [](const py::bytes& b) { return Model(deserialize_model(std::string(b))); }))
      .def("__repr__", [](const Model& mo) {
        return fmt::format("Model({} -> {}, {}{}{})", mo.network->in_features(), mo.network->out_features(),
                           mo.info.loss.empty() ? "no loss" : mo.info.loss, mo.info.input.empty() ? "" : ", standardized",
                           mo.info.impute.empty() ? "" : ", imputed");
      });
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
      "spirals", [](std::size_t n, std::size_t arms, double noise, std::uint64_t seed) {
        return xy(synthetic::spirals(n, arms, static_cast<float>(noise), seed));
      },
      py::arg("n"), py::arg("arms") = 2, py::arg("noise") = 0.1, py::arg("seed") = 0);
  data.def(
      "moons",
      [](std::size_t n, double noise, std::uint64_t seed) {
        return xy(synthetic::moons(n, static_cast<float>(noise), seed));
      },
      py::arg("n"), py::arg("noise") = 0.1, py::arg("seed") = 0);
}

}  // namespace

void bind_io(py::module_& m) {
  bind_model_value(m);
  const auto names = std::vector<std::string>{};
  m.def(
      "save_model",
      [](const std::string& path, const py::object& model, const std::vector<std::string>& class_names,
         const std::vector<std::string>& feature_names, const std::string& loss) {
        save_model(path, model_of(model, class_names, feature_names, loss));
      },
      py::arg("path"), py::arg("model"), py::arg("class_names") = names, py::arg("feature_names") = names,
      py::arg("loss") = std::string(),
      "Writes a Model (every step) or a Sequential (with the names given) as the CLI does: safetensors, named as "
      "torch's nn.Sequential state_dict.");
  m.def("load_model", &read_model, py::arg("path"),
        "The Model in a model file (.safetensors, or .onnx: see model_from_onnx).");
  m.def(
      "model_to_bytes",
      [](const py::object& model, const std::vector<std::string>& class_names,
         const std::vector<std::string>& feature_names, const std::string& loss) {
        return py::bytes(serialize_model(model_of(model, class_names, feature_names, loss)));
      },
      py::arg("model"), py::arg("class_names") = names, py::arg("feature_names") = names,
      py::arg("loss") = std::string(), "A Model's (or a Sequential's) model file as bytes, written in memory.");
  m.def(
      "model_from_bytes", [](const py::bytes& data) { return Model(deserialize_model(std::string(data))); },
      py::arg("data"), "The Model in model-file bytes (model_to_bytes).");
  m.def(
      "model_to_onnx",
      [](const py::object& model, const std::vector<std::string>& class_names,
         const std::vector<std::string>& feature_names, const std::string& loss, int opset) {
        const Model mo = model_of(model, class_names, feature_names, loss);
        return py::bytes(to_onnx(*mo.network, mo.info, {.opset = opset}));
      },
      py::arg("model"), py::arg("class_names") = names, py::arg("feature_names") = names,
      py::arg("loss") = std::string(), py::arg("opset") = OnnxExportOptions{}.opset,
      fmt::format("The model's evaluation function as an ONNX model (bytes), from raw inputs as Model.predict takes "
                  "them: input 'input' float32 [batch, features], output 'output' [batch, outputs]; the names, loss "
                  "and input range as metadata_props. Checked by ONNX's checker before it is returned. opset: {} to "
                  "{}.",
                  kOnnxMinOpset, kOnnxMaxOpset)
          .c_str());
  m.def(
      "model_from_onnx",
      [](const py::bytes& data, const std::string& task, const std::vector<std::string>& classes) {
        return Model(from_onnx(data, "ONNX model", {.task = task, .class_names = classes}));
      },
      py::arg("data"), py::kw_only(), py::arg("task") = std::string(), py::arg("classes") = names,
      "The Model in ONNX bytes: the MLP subset (Gemm or MatMul + Add, BatchNormalization, the activations, "
      "Dropout, Identity), as torch.onnx.export writes it for nn.Sequential. task: '' (as the file says), "
      "'classification' (outputs without a softmax are logits: a Softmax, or a Sigmoid for one output, is "
      "appended) or 'regression'; classes: the class names. Anything else is a RuntimeError naming the node and its "
      "op type.");
  bind_data(m);
}

}  // namespace gradflow::python
