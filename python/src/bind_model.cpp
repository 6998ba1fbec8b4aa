// The model side of the Python module: layer specs and their builders, Sequential, losses, the
// registered optimizers and schedules, model files, threads and data loaders.
#include <pybind11/operators.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <fmt/format.h>

#include "arrays.h"
#include "without_gil.h"
#include "bindings.h"
#include "gradflow/data/csv.h"
#include "gradflow/data/idx.h"
#include "gradflow/data/synthetic.h"
#include "gradflow/gradflow.h"

namespace gradflow::python {

namespace {

py::dict hyperparameter_dict(const Hyperparameter& p) {
  using T = Hyperparameter::Type;
  py::dict d;
  d["name"] = std::string(p.name);
  d["type"] = p.type == T::Flag ? "bool" : p.type == T::Whole ? "int" : "float";
  if (p.type == T::Flag) d["default"] = p.default_value != 0;
  else d["default"] = p.default_value;
  d["range"] = describe_range(p);
  d["torch_name"] = std::string(p.torch_name);
  d["help"] = std::string(p.help);
  return d;
}

py::list registry_list() {
  py::list out;
  for (const OptimizerKind& k : optimizer_kinds()) {
    py::list params;
    for (const Hyperparameter& p : k.params) params.append(hyperparameter_dict(p));
    out.append(py::dict(py::arg("name") = std::string(k.name), py::arg("torch_class") = std::string(k.torch_class),
                        py::arg("summary") = std::string(k.summary), py::arg("params") = params));
  }
  return out;
}

// Keyword arguments as the registry's values: a bool is 0 or 1, anything else a number.
HyperparameterValues values_of(const py::kwargs& kwargs) {
  HyperparameterValues v;
  for (const auto& [key, value] : kwargs) {
    const std::string name = py::str(key);
    if (py::isinstance<py::bool_>(value)) v[name] = value.cast<bool>() ? 1.0 : 0.0;
    else if (py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)) v[name] = value.cast<double>();
    else throw py::type_error(fmt::format("make_optimizer: {} must be a number or a bool", name));
  }
  return v;
}

void bind_layers(py::module_& m) {
  py::class_<LayerSpec>(m, "LayerSpec", "What a layer is (its kind and arguments), independent of its input size.")
      .def_property_readonly("kind", [](const LayerSpec& s) { return std::string(to_string(s.kind)); })
      .def("__repr__", [](const LayerSpec& s) { return fmt::format("LayerSpec({})", to_string(s.kind)); })
      .def(py::self == py::self);
  // gradflow.nn's builders are made in Python from layer_kinds()'s arguments (python/gradflow/nn.py).
  m.def(
      "_build_layer",
      [](const std::string& builder, const py::kwargs& kwargs) {
        LayerArgs args;
        for (const auto& [key, value] : kwargs) {
          const std::string name = py::str(key);
          if (py::isinstance<py::bool_>(value)) args[name] = value.cast<bool>();
          else if (py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)) args[name] = value.cast<double>();
          else if (py::isinstance<py::str>(value)) args[name] = value.cast<std::string>();
          else throw py::type_error(fmt::format("nn.{}: {} must be a number, a bool or a string", builder, name));
        }
        return build_layer(builder, args);
      },
      py::arg("builder"), "The layer spec a builder of gradflow.nn makes (layer_kinds()'s 'builder').");
  m.def("_activation", &parse_activation, py::arg("name"), "An activation by its name: relu, tanh, … (layer_kinds()).");
  m.def(
      "_mlp",
      [](const std::vector<std::size_t>& units, const std::vector<LayerSpec>& activations,
         const std::vector<bool>& batch_norm, const std::vector<float>& dropout, const std::vector<std::string>& init) {
        std::vector<nn::Block> blocks;
        for (std::size_t i = 0; i < units.size(); ++i)
          blocks.push_back({.units = units[i], .activation = activations.at(i), .batch_norm = batch_norm.at(i),
                            .dropout = dropout.at(i), .init = parse_init(init.at(i))});
        return nn::mlp(blocks);
      },
      py::arg("units"), py::arg("activations"), py::arg("batch_norm"), py::arg("dropout"), py::arg("init"),
      "nn::mlp's layers for blocks given column by column (gradflow.nn.mlp broadcasts them).");
  m.def(
      "layer_kinds",
      [] {
        py::list out;
        for (const LayerKindInfo& k : layer_kinds()) {
          py::list args;
          for (const LayerArg& a : k.args)
            args.append(py::dict(py::arg("name") = std::string(a.name), py::arg("type") = std::string(a.type),
                                 py::arg("default") = std::string(a.default_value), py::arg("help") = std::string(a.help)));
          out.append(py::dict(py::arg("name") = std::string(k.name), py::arg("torch_class") = std::string(k.torch_class),
                              py::arg("activation") = (k.traits & kActivation) != 0,
                              py::arg("builder") = std::string(k.builder), py::arg("summary") = std::string(k.summary),
                              py::arg("args") = args));
        }
        return out;
      },
      "Every registered layer kind: its CLI name, torch class, whether it is an activation, its builder in "
      "gradflow.nn with the builder's arguments (name, type, default as written, help) and what it computes.");
}

// An LBFGS's count or flag, None for the other optimizers.
template <class T>
py::object lbfgs_only(const Optimizer& o, T (LBFGS::*get)() const) {
  if (const auto* l = dynamic_cast<const LBFGS*>(&o)) return py::cast((l->*get)());
  return py::none();
}

void bind_sequential(py::module_& m) {
  py::class_<Sequential, std::shared_ptr<Sequential>>(m, "Sequential",
                                                       "A feed-forward network: layers applied in order.")
      .def(py::init([](std::size_t in_features, std::vector<LayerSpec> layers, std::uint64_t seed) {
             return std::make_shared<Sequential>(in_features, std::move(layers), seed);
           }),
           py::arg("in_features"), py::arg("layers"), py::arg("seed") = 0)
      .def_property_readonly("in_features", &Sequential::in_features)
      .def_property_readonly("out_features", &Sequential::out_features)
      .def_property_readonly("num_params", &Sequential::num_params)
      .def_property_readonly("layers", [](const Sequential& s) {
        std::vector<std::string> names;
        for (std::size_t i = 0; i < s.size(); ++i) names.push_back(s.layer(i).name());
        return names;
      })
      .def("specs", &Sequential::specs)
      .def(
          "set_trainable", [](Sequential& s, std::size_t i, bool trainable) { s.layer(i).set_trainable(trainable); },
          py::arg("layer"), py::arg("trainable"),
          "Freeze (False) or unfreeze a layer: a frozen layer gets no updates and costs no gradient work.")
      .def("copy_layers_from", &copy_matching_layers, py::arg("source"),
           "Copy the source model's lower layers that match this one's by kind and shape (transfer learning); "
           "returns how many.")
      .def("summary", &Sequential::summary)
      .def("parameters", [](const Sequential& s) { return to_numpy(s.parameters()); },
           "A copy of every parameter, flat, in state_dict order.")
      .def(
          "dense_parameters",
          [](const std::shared_ptr<Sequential>& s) {
            // Views of the model's own memory (which lives as long as they do): writing them
            // changes the model.
            const py::object owner = py::cast(s);
            py::list out;
            for (std::size_t i = 0; i < s->size(); ++i) {
              auto* d = dynamic_cast<Dense*>(&s->layer(i));
              if (!d) continue;
              Tensor& w = d->weight();
              const auto rows = static_cast<py::ssize_t>(w.rows()), cols = static_cast<py::ssize_t>(w.cols());
              py::array_t<float> weight({rows, cols}, w.data(), owner);
              py::object bias = py::none();
              if (Tensor* b = d->bias())
                bias = py::array_t<float>({static_cast<py::ssize_t>(b->size())}, b->data(), owner);
              out.append(py::make_tuple(weight, bias));
            }
            return out;
          },
          "Each Dense layer's (weight [out, in], bias [out] or None), as float32 views of the model's memory "
          "(torch.nn.Linear's layout; writing them changes the model).")
      .def("predict", &predict_array, py::arg("X"), py::arg("batch_size") = kPredictBatch,
           fmt::format("The network's output for X [samples, in_features] in evaluation mode (the softmax or sigmoid "
                       "applied), as float32 [samples, out_features] — the network alone: a loaded Model's predict "
                       "also fills and standardizes raw inputs. It runs batch_size rows at a time (at most {}), the "
                       "last block padded, so that a sample's output does not depend on the samples given with it. "
                       "Raises RuntimeError naming the row when an output is not finite. Safe to call from many "
                       "threads at once; the GIL is released while it computes.",
                       kMaxPredictBatch)
               .c_str())
      .def("__repr__", [](const Sequential& s) { return fmt::format("Sequential({})", s.summary()); });
}

void bind_losses_and_optimizers(py::module_& m) {
  py::class_<Loss>(m, "Loss", "A loss by its registered name: cross_entropy, bce, mse (loss_kinds()).")
      .def(py::init([](const std::string& name) { return Loss(parse_loss(name)); }), py::arg("name"))
      .def_property_readonly("name", [](const Loss& l) { return std::string(l.name()); });
  m.def("loss_kinds", [] {
    py::list out;
    for (const LossKindInfo& l : loss_kinds())
      out.append(py::dict(py::arg("name") = std::string(l.name), py::arg("torch_class") = std::string(l.torch_class)));
    return out;
  });
  py::class_<Optimizer>(m, "Optimizer", "An update rule with its state (make_optimizer builds one).")
      .def_property_readonly("name", [](const Optimizer& o) { return std::string(o.name()); })
      .def_property_readonly("learning_rate", &Optimizer::learning_rate)
      .def_property_readonly(
          "iterations", [](const Optimizer& o) { return lbfgs_only(o, &LBFGS::iterations); },
          "LBFGS: its iterations so far (torch's state['n_iter']); None for the first-order rules.")
      .def_property_readonly(
          "evaluations", [](const Optimizer& o) { return lbfgs_only(o, &LBFGS::evaluations); },
          "LBFGS: the loss evaluations so far (torch's state['func_evals']); None for the others.")
      .def_property_readonly(
          "converged", [](const Optimizer& o) { return lbfgs_only(o, &LBFGS::converged); },
          "LBFGS: whether its last step stopped on a tolerance (not max_iter or max_eval); None for the others.")
      .def("hyperparameters", &Optimizer::hyperparameters,
           "Every registered hyper-parameter with the value it was built with ({name: value}; flags as 0/1).");
  m.def("optimizer_kinds", &registry_list,
        "The registered optimizers: name, torch class, and each hyper-parameter with its default and range.");
  m.def(
      "make_optimizer",
      [](const std::string& name, const py::kwargs& kwargs) { return make_optimizer(name, values_of(kwargs)); },
      py::arg("name"),
      "The optimizer `name` (optimizer_kinds()) with the hyper-parameters given as keywords; the rest take its "
      "defaults (PyTorch's). make_optimizer('adamw') is torch.optim.AdamW().");
  m.def("schedule_forms", [] { return schedule_forms(); });
}

void bind_threads(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"), "Compute threads (0: GRADFLOW_NUM_THREADS, else one per core).");
  m.def("num_threads", &num_threads);
  m.def("blas_kernels", [] { return std::string(blas_kernels()); }, "The library and code path of the products.");
}

}  // namespace

py::array_t<float> predict_array(const Sequential& model, const py::handle& X, std::size_t batch_size) {
  FloatArray a = as_matrix(X, "X");
  if (static_cast<std::size_t>(a.shape(1)) != model.in_features())
    throw py::value_error(fmt::format("X has {} features, but the model is expecting {} features as input",
                                      a.shape(1), model.in_features()));
  check_finite(a, "X");
  const Tensor x = view_of(a);
  py::array_t<float> result({static_cast<py::ssize_t>(x.rows()), static_cast<py::ssize_t>(model.out_features())});
  Tensor out = Tensor::view(result.mutable_data(), x.rows(), model.out_features());  // written in place
  {
    WithoutGil released;
    predict_rows(model, x, out, batch_size);
  }
  return result;
}

void bind_model(py::module_& m) {
  bind_layers(m);
  bind_sequential(m);
  bind_losses_and_optimizers(m);
  bind_threads(m);
}

}  // namespace gradflow::python
