#include "gradflow/model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/onnx.h"
#include "gradflow/trainer.h"

namespace gradflow {

Model::Model(std::shared_ptr<Sequential> net, ModelInfo model_info) : network(std::move(net)), info(std::move(model_info)) {
  if (!network) throw std::invalid_argument("Model: no network");
}

Model::Model(ModelFile&& file) : network(std::move(file.model)), info(std::move(file.info)) {
  info.tensors.clear();
  info.metadata.erase("gradflow.training");
}

namespace {
// A value that is not finite after filling is named with its sample and feature.
void require_finite_inputs(const Tensor& x, bool imputes) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]))
      throw std::invalid_argument(
          fmt::format("sample {}, feature {} is {} (expected a finite number{})", i / x.cols(), i % x.cols(), x[i],
                      std::isnan(x[i]) && !imputes ? "; the model fills missing values only when trained with --impute"
                                                   : ""));
}
}  // namespace

void Model::prepare(Tensor& x) const {
  if (x.cols() != network->in_features())
    throw std::invalid_argument(fmt::format("model: input has {} features (shape {}), the model takes {}", x.cols(),
                                            x.shape_str(), network->in_features()));
  info.impute.apply(x);
  require_finite_inputs(x, !info.impute.empty());
  info.input.apply(x);
}

std::string Model::check_inputs(const Tensor& raw) const { return info.range.check(raw, info.feature_names); }

void Model::predict(const Tensor& raw, Tensor& out, std::size_t batch_size) const {
  if (info.impute.empty() && info.input.empty()) {  // no step to take: no copy of the inputs
    if (raw.cols() == network->in_features()) require_finite_inputs(raw, false);
    predict_rows(*network, raw, out, batch_size);
    return;
  }
  Tensor x = raw;
  prepare(x);
  predict_rows(*network, x, out, batch_size);
}

bool Model::regression() const {
  return info.loss == "mse" && network->layer(network->size() - 1).kind() != LayerKind::Softmax;
}

namespace {
float largest_magnitude(const float* v, std::size_t n) {
  float m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(v[i]));
  return m;
}

// The first non-finite output is an error naming its row and what overflowed.
void require_finite(const Sequential& network, const Tensor& x, const Tensor& out) {
  for (std::size_t i = 0; i < out.rows(); ++i)
    for (std::size_t j = 0; j < out.cols(); ++j)
      if (!std::isfinite(out(i, j)))
        throw std::runtime_error(fmt::format(
            "predict: row {} gives output {} = {} (expected a finite number): the computation overflows float32 "
            "(largest |weight| {:g}, largest |input| in that row {:g})",
            i, j, std::isnan(out(i, j)) ? "nan" : fmt::format("{}", out(i, j)), largest_magnitude(network.parameters().data(), network.num_params()),
            largest_magnitude(x.row(i), x.cols())));
}
}  // namespace

void predict_rows(const Sequential& network, const Tensor& x, Tensor& out, std::size_t batch_size) {
  if (batch_size == 0) throw std::invalid_argument("predict: batch_size must be at least 1");
  if (x.cols() != network.in_features())
    throw std::invalid_argument(fmt::format("predict: input has {} features (shape {}), the model takes {}", x.cols(),
                                            x.shape_str(), network.in_features()));
  const std::size_t n = x.rows(), k = network.out_features(), block = std::min(batch_size, kMaxPredictBatch);
  out.resize(n, k);
  Sequential::Workspace ws;
  Tensor padded;  // only for a last block shorter than the others
  for (std::size_t r = 0; r < n; r += block) {
    const std::size_t rows = std::min(block, n - r);
    if (rows < block) {
      padded.resize(block, x.cols());
      padded.zero();
      std::copy(x.row(r), x.row(r) + rows * x.cols(), padded.data());
    }
    const Tensor whole = Tensor::view(const_cast<float*>(x.row(r)), rows, x.cols());  // read only
    const Tensor& y = network.evaluate(rows < block ? padded : whole, ws);
    std::copy(y.data(), y.data() + rows * k, out.row(r));
  }
  require_finite(network, x, out);
}

void save_model(const std::string& path, const Model& model) { save_model(path, *model.network, model.info); }

std::string serialize_model(const Model& model) { return serialize_model(*model.network, model.info); }

Model read_model(const std::string& path) { return Model(load_any_model(path)); }

}  // namespace gradflow
