#include "gradflow/checkpoint.h"

#include "gradflow/detail/json_depth.h"

#include "layer_registry.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace gradflow {

using nlohmann::json;

namespace {

// A layer as PyTorch constructs it: its class and arguments (the first layer also gives the
// model's input width).
json layer_json(const Layer& l, std::size_t k) {
  const detail::KindRegistration& r = detail::registration(l.kind());
  json j{{"type", r.info.torch_class}};
  r.write_args(l, j);
  if (k == 0 && !j.contains(r.width_key)) j[r.width_key] = l.in_features();
  return j;
}

// Every tensor a layer contributes to the state_dict: parameters, then buffers, with
// PyTorch's names, dtypes and shapes, pointing at the layer's own memory.
struct StateEntry {
  std::string name;
  const char* dtype;
  json shape;
  char* data;
  std::size_t bytes;
};

std::vector<StateEntry> state_entries(Layer& l, std::size_t k) {
  std::vector<StateEntry> out;
  const auto shapes = l.param_shapes();
  for (std::size_t p = 0; p < shapes.size(); ++p) {
    Tensor& t = l.params()[p];
    out.push_back({fmt::format("{}.{}", k, shapes[p].name), "F32",
                   shapes[p].vector ? json::array({shapes[p].cols}) : json::array({shapes[p].rows, shapes[p].cols}),
                   reinterpret_cast<char*>(t.data()), t.size() * sizeof(float)});
  }
  for (auto& [name, t] : l.buffers())
    out.push_back({fmt::format("{}.{}", k, name), "F32", json::array({t->size()}), reinterpret_cast<char*>(t->data()),
                   t->size() * sizeof(float)});
  for (auto& [name, c] : l.counters())
    out.push_back({fmt::format("{}.{}", k, name), "I64", json::array(), reinterpret_cast<char*>(c), sizeof(std::int64_t)});
  return out;
}

// Floats the layers of `specs` hold (parameters and buffers), computed from the specs alone.
std::uint64_t state_floats(const std::vector<LayerSpec>& specs, std::size_t in_features) {
  std::uint64_t floats = 0, width = in_features;
  for (const LayerSpec& s : specs) {
    floats += detail::registration(s.kind).state_floats(s, width);
    if (s.kind == LayerKind::Dense) width = s.units;
  }
  return floats;
}

}  // namespace

std::string architecture_json(const Sequential& model) {
  json layers = json::array();
  for (std::size_t i = 0; i < model.size(); ++i) layers.push_back(layer_json(model.layer(i), i));
  return layers.dump();
}

std::vector<LayerSpec> parse_architecture(const std::string& text, std::size_t& in_features) {
  const json layers = detail::parse_json<json>(text, "architecture");
  if (!layers.is_array() || layers.empty()) throw std::runtime_error("architecture is not a non-empty list of layers");
  if (layers.size() > kMaxLayers)
    throw std::runtime_error(fmt::format("architecture has {} layers (at most {})", layers.size(), kMaxLayers));
  std::vector<LayerSpec> specs;
  std::size_t width = 0;
  in_features = 0;
  for (std::size_t k = 0; k < layers.size(); ++k) {
    const json& j = layers[k];
    if (!j.is_object()) throw std::runtime_error(fmt::format("layer {}: not a JSON object", k));
    const detail::KindRegistration* r = detail::registration_of_torch_class(j.value("type", ""));
    if (!r) throw std::runtime_error(fmt::format("layer {}: unknown layer type '{}'", k, j.value("type", "")));
    if (k == 0) {
      if (!j.contains(r->width_key))
        throw std::runtime_error(fmt::format("layer 0 ({}) gives no '{}'", r->info.torch_class, r->width_key));
      in_features = width = detail::ArchLayer{j, k, 0}.size(r->width_key);
    }
    const LayerSpec s = r->read_args(detail::ArchLayer{j, k, width});
    if (s.kind == LayerKind::Dense) width = s.units;
    specs.push_back(s);
  }
  return specs;
}

namespace {
// Writes through write(f) into a temporary file beside `path`, syncs it, then renames it over
// `path`: a reader sees the old file or the new one, never a part; on any failure the old
// file stays and the temporary is removed.
void write_atomic_with(const std::string& path, const std::function<bool(std::FILE*)>& write) {
  const std::filesystem::path target(path);
  const std::filesystem::path tmp =
      target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), ::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw std::runtime_error(fmt::format("cannot write '{}': {}", tmp.string(), std::strerror(errno)));
    const bool ok = write(f) && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    const int err = errno;
    std::fclose(f);
    if (!ok) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw std::runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw std::runtime_error(fmt::format("cannot write '{}': {}", path, ec.message()));
  }
}
}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_atomic_with(path, [&](std::FILE* f) { return std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(); });
}

void save_model(const std::string& path, const Sequential& model, const ModelInfo& info) {
  const Standardizer& input = info.input;
  json header;
  json meta{{"format", "pt"}, {"gradflow.architecture", architecture_json(model)}};
  json in{{"features", model.in_features()}};
  if (!input.empty()) {
    in["mean"] = input.mean;
    in["std"] = input.std;
  }
  if (!info.feature_names.empty()) in["names"] = info.feature_names;
  if (!info.label_name.empty()) in["label"] = info.label_name;
  if (!info.impute.empty()) {
    in["impute"] = info.impute.strategy;
    in["fill"] = info.impute.fill;
  }
  meta["gradflow.input"] = in.dump();
  if (!info.class_names.empty()) meta["gradflow.classes"] = json(info.class_names).dump();
  if (!info.loss.empty()) meta["gradflow.loss"] = info.loss;
  for (const auto& [k, v] : info.metadata) meta[k] = v;
  header["__metadata__"] = meta;
  // The header first (it holds every tensor's offsets), then the tensors straight from the
  // model's memory: no copy of the weights is built, however large the model.
  struct Piece {
    const char* data;
    std::size_t bytes;
  };
  std::vector<Piece> pieces;
  std::size_t offset = 0;
  auto add = [&](const std::string& name, const char* dtype, const json& shape, const char* p, std::size_t bytes) {
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
    pieces.push_back({p, bytes});
    offset += bytes;
  };
  // Saving only reads; state_entries hands out mutable pointers because loading shares it.
  auto& m = const_cast<Sequential&>(model);
  for (std::size_t k = 0; k < m.size(); ++k)
    for (const StateEntry& e : state_entries(m.layer(k), k)) add(e.name, e.dtype, e.shape, e.data, e.bytes);
  for (const auto& [name, t] : info.tensors) {
    if (name.rfind("optimizer.", 0) != 0) throw std::logic_error("save_model: extra tensors are named optimizer.*");
    add(name, "F32", json::array({t->size()}), reinterpret_cast<const char*>(t->data()), t->size() * sizeof(float));
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as safetensors does
  std::string head(8, '\0');
  const std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) head[i] = static_cast<char>((n >> (8 * i)) & 0xff);  // little-endian
  head += h;
  write_atomic_with(path, [&](std::FILE* f) {
    if (std::fwrite(head.data(), 1, head.size(), f) != head.size()) return false;
    for (const Piece& p : pieces)
      if (std::fwrite(p.data, 1, p.bytes, f) != p.bytes) return false;
    return true;
  });
}

ModelFile load_model(const std::string& path) {
  auto fail = [&](const std::string& what) { return std::runtime_error(fmt::format("{}: {}", path, what)); };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(fmt::format("cannot open '{}': no such file", path));
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  std::ifstream f(path, std::ios::binary);
  if (!f || ec) throw std::runtime_error(fmt::format("cannot open '{}'", path));
  if (size < 8) throw fail(fmt::format("truncated at byte {}: expected an 8-byte header length", size));
  unsigned char len_bytes[8];
  f.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > size - 8 || n > (100u << 20))
    throw fail(fmt::format("header length {} at byte 0 exceeds the file ({} bytes after it)", n, size - 8));
  std::string h(n, '\0');
  f.read(h.data(), static_cast<std::streamsize>(n));
  json header;
  try {
    header = detail::parse_json<json>(h, "header");
  } catch (const std::exception& e) {
    throw fail(fmt::format("header (bytes 8..{}) is not valid JSON: {}", 8 + n, e.what()));
  }
  if (!header.is_object()) throw fail("header is not a JSON object");
  const std::uint64_t data_size = size - 8 - n;

  ModelFile mf;
  auto& metadata = mf.info.metadata;
  const json meta = header.value("__metadata__", json::object());
  if (!meta.is_object()) throw fail("__metadata__ is not an object");
  for (auto& [k, v] : meta.items()) {
    if (!v.is_string()) throw fail(fmt::format("__metadata__ entry '{}' is not a string", k));
    metadata[k] = v.get<std::string>();
  }
  if (!metadata.count("gradflow.architecture"))
    throw fail("no gradflow.architecture in __metadata__ (not a gradflow model file)");
  std::size_t in_features = 0;
  std::vector<LayerSpec> specs;
  try {
    specs = parse_architecture(metadata["gradflow.architecture"], in_features);
    if (metadata.count("gradflow.input")) {
      const json in = detail::parse_json<json>(metadata["gradflow.input"], "gradflow.input");
      if (in.contains("mean") || in.contains("std")) {
        mf.info.input.mean = in.at("mean").get<std::vector<float>>();
        mf.info.input.std = in.at("std").get<std::vector<float>>();
        if (mf.info.input.mean.size() != in_features || mf.info.input.std.size() != in_features)
          throw std::runtime_error(fmt::format("input statistics have {} means and {} deviations, the model takes {} features",
                                               mf.info.input.mean.size(), mf.info.input.std.size(), in_features));
        // Standardizing computes (x − mean) / std (std 0: a constant feature, left unscaled).
        for (std::size_t j = 0; j < in_features; ++j)
          if (!std::isfinite(mf.info.input.mean[j]) || !std::isfinite(mf.info.input.std[j]) ||
              mf.info.input.std[j] < 0)
            throw std::runtime_error(fmt::format("input feature {}: mean {} and std {} (expected finite, std ≥ 0)", j,
                                                 mf.info.input.mean[j], mf.info.input.std[j]));
      }
      if (in.contains("names")) {
        mf.info.feature_names = in.at("names").get<std::vector<std::string>>();
        if (mf.info.feature_names.size() != in_features)
          throw std::runtime_error(fmt::format("{} feature names for {} features", mf.info.feature_names.size(), in_features));
      }
      if (in.contains("label")) mf.info.label_name = in.at("label").get<std::string>();
      if (in.contains("impute") || in.contains("fill")) {
        mf.info.impute.strategy = in.at("impute").get<std::string>();
        mf.info.impute.fill = in.at("fill").get<std::vector<float>>();
        if (mf.info.impute.fill.size() != in_features)
          throw std::runtime_error(fmt::format("{} fill values for {} features", mf.info.impute.fill.size(), in_features));
        for (float v : mf.info.impute.fill)
          if (!std::isfinite(v)) throw std::runtime_error(fmt::format("fill value {} is not finite", v));
      }
    }
    if (metadata.count("gradflow.classes")) {
      mf.info.class_names =
          detail::parse_json<json>(metadata["gradflow.classes"], "gradflow.classes").get<std::vector<std::string>>();
    }
  } catch (const std::exception& e) {
    throw fail(std::string("bad metadata: ") + e.what());
  }
  mf.info.loss = metadata.count("gradflow.loss") ? metadata["gradflow.loss"] : "";
  // Validate every tensor entry before reading any data.
  struct Entry {
    std::string name;
    std::uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto& [name, t] : header.items()) {
    if (name == "__metadata__") continue;
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets"))
      throw fail(fmt::format("tensor '{}': expected dtype, shape and data_offsets", name));
    const bool counter = name.size() > 20 && name.ends_with(".num_batches_tracked");
    if (t["dtype"] != (counter ? "I64" : "F32"))
      throw fail(fmt::format("tensor '{}': dtype {} (expected {})", name, t["dtype"].dump(), counter ? "I64" : "F32"));
    const json& off = t["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw fail(fmt::format("tensor '{}': data_offsets must be two non-negative integers", name));
    entries.push_back({name, off[0].get<std::uint64_t>(), off[1].get<std::uint64_t>()});
    if (entries.back().begin > entries.back().end || entries.back().end > data_size)
      throw fail(fmt::format("tensor '{}': data_offsets [{}, {}] outside the {} data bytes", name,
                             entries.back().begin, entries.back().end, data_size));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < entries.size(); ++i)
    if (entries[i].begin < entries[i - 1].end)
      throw fail(fmt::format("tensors '{}' and '{}' overlap", entries[i - 1].name, entries[i].name));

  // The architecture may only ask for as much memory as the file's tensors hold: a 2.7 KB
  // header can describe a 3 GB network. Checked before any layer is built.
  const std::uint64_t needed = 4 * state_floats(specs, in_features);
  if (needed > data_size)
    throw fail(fmt::format("the architecture needs {} bytes of tensors but the file holds {} data bytes", needed,
                           data_size));
  mf.model = std::make_unique<Sequential>(in_features, specs);

  std::size_t expected = 0;
  for (std::size_t k = 0; k < mf.model->size(); ++k) {
    Layer& l = mf.model->layer(k);
    for (const StateEntry& e : state_entries(l, k)) {
      if (!header.contains(e.name)) throw fail(fmt::format("missing tensor '{}' for layer {} ({})", e.name, k, l.name()));
      const json& t = header[e.name];
      if (t["shape"] != e.shape)
        throw fail(fmt::format("tensor '{}' has shape {}, layer {} ({}) needs {}", e.name, t["shape"].dump(), k,
                               l.name(), e.shape.dump()));
      const std::uint64_t b = t["data_offsets"][0], end = t["data_offsets"][1];
      if (end - b != e.bytes)
        throw fail(fmt::format("tensor '{}': {} data bytes for shape {} (expected {})", e.name, end - b,
                               e.shape.dump(), e.bytes));
      f.seekg(static_cast<std::streamoff>(8 + n + b));
      f.read(e.data, static_cast<std::streamsize>(e.bytes));
      if (!f) throw fail(fmt::format("truncated while reading tensor '{}'", e.name));
      ++expected;
    }
  }
  if (entries.size() != expected) {
    // Optimizer state of a training checkpoint; anything else no layer asked for is an error.
    std::vector<std::string> known;
    for (std::size_t k = 0; k < mf.model->size(); ++k)
      for (const StateEntry& e : state_entries(mf.model->layer(k), k)) known.push_back(e.name);
    for (const Entry& e : entries) {
      if (std::find(known.begin(), known.end(), e.name) != known.end()) continue;
      if (e.name.rfind("optimizer.", 0) != 0)
        throw fail(fmt::format("unexpected tensor '{}' (not part of the architecture)", e.name));
      const json& t = header[e.name];
      const std::uint64_t count = mf.model->num_params();
      if (t["dtype"] != "F32" || t["shape"] != json::array({count}) || e.end - e.begin != count * sizeof(float))
        throw fail(fmt::format("tensor '{}': shape {}, {} bytes; expected F32 [{}] (one value per parameter, {} bytes)",
                               e.name, t["shape"].dump(), e.end - e.begin, count, count * sizeof(float)));
      Tensor v(1, count);
      f.seekg(static_cast<std::streamoff>(8 + n + e.begin));
      f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(e.end - e.begin));
      if (!f) throw fail(fmt::format("truncated while reading tensor '{}'", e.name));
      mf.tensors[e.name] = std::move(v);
    }
    for (auto& [name, t] : mf.tensors) mf.info.tensors.push_back({name, &t});
  }
  for (float v : mf.model->parameters().span())
    if (!std::isfinite(v)) throw fail("a parameter is NaN or infinite");
  for (std::size_t k = 0; k < mf.model->size(); ++k)
    for (auto& [name, t] : mf.model->layer(k).buffers())
      for (float v : t->span())
        if (!std::isfinite(v) || (name == "running_var" && v < 0))
          throw fail(fmt::format("tensor '{}.{}' holds {} (expected finite{})", k, name, v,
                                 name == "running_var" ? " and non-negative" : ""));
  return mf;
}

}  // namespace gradflow
