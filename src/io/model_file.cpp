#include "gradflow/model_file.h"

#include "gradflow/detail/json_depth.h"

#include "nn/layer_registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
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
    floats += state_floats(s, width);
    width = output_width(s, width);
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
    width = output_width(s, width);
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

namespace {
// A model file as the header's bytes (length and JSON) and the tensors' bytes after it, pointing
// into the model's memory: no copy of the weights is built, however large the model.
struct Encoded {
  struct Piece {
    const char* data;
    std::size_t bytes;
  };
  std::string head;
  std::vector<Piece> pieces;
};

Encoded encode(const Sequential& model, const ModelInfo& info) {
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
  if (!info.ignored_columns.empty()) in["ignored"] = info.ignored_columns;
  if (!info.impute.empty()) {
    in["impute"] = info.impute.strategy;
    in["fill"] = info.impute.fill;
  }
  if (!info.range.empty()) {
    in["min"] = info.range.min;
    in["max"] = info.range.max;
    if (!info.range.form.empty()) in["form"] = info.range.form;
  }
  meta["gradflow.input"] = in.dump();
  if (!info.class_names.empty()) meta["gradflow.classes"] = json(info.class_names).dump();
  if (!info.loss.empty()) meta["gradflow.loss"] = info.loss;
  for (const auto& [k, v] : info.metadata) meta[k] = v;
  header["__metadata__"] = meta;
  // The header first (it holds every tensor's offsets), then the tensors.
  std::vector<Encoded::Piece> pieces;
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
  return {std::move(head), std::move(pieces)};
}
}  // namespace

void save_model(const std::string& path, const Sequential& model, const ModelInfo& info) {
  const Encoded e = encode(model, info);
  write_atomic_with(path, [&](std::FILE* f) {
    if (std::fwrite(e.head.data(), 1, e.head.size(), f) != e.head.size()) return false;
    for (const Encoded::Piece& p : e.pieces)
      if (std::fwrite(p.data, 1, p.bytes, f) != p.bytes) return false;
    return true;
  });
}

void append_line(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  struct stat before {};
  ::fstat(fd, &before);
  const std::string text = line + '\n';
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = n < 0 ? errno : ENOSPC;  // a short write: the disk filled up
  if (n != static_cast<ssize_t>(text.size())) {
    if (n > 0) (void)!::ftruncate(fd, before.st_size);  // take the part back (the error says the rest)
    ::close(fd);
    throw std::runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(err)));
  }
  ::close(fd);
}

std::string serialize_model(const Sequential& model, const ModelInfo& info) {
  const Encoded e = encode(model, info);
  std::string bytes = e.head;
  for (const Encoded::Piece& p : e.pieces) bytes.append(p.data, p.bytes);
  return bytes;
}

namespace {

// Reading a model file, in the order of its checks: the header, the metadata (architecture and
// input preprocessing), the tensor entries (offsets inside the data, not overlapping), then
// the tensors the architecture asks for and the optimizer state. Errors name the file.
class ModelReader {
 public:
  // `in` holds `size` bytes; `name` (the path, or what the bytes are) starts every error.
  ModelReader(std::istream& in, std::uintmax_t size, const std::string& name) : path_(name), f_(in), size_(size) {}

  ModelFile read() {
    read_header();
    read_metadata();
    index_entries();
    build_model();
    read_layer_tensors();
    read_optimizer_tensors();
    return std::move(mf_);
  }

 private:
  std::runtime_error fail(const std::string& what) const {
    return std::runtime_error(fmt::format("{}: {}", path_, what));
  }

  void read_header() {
    const std::uintmax_t size = size_;
    if (size < 8) throw fail(fmt::format("truncated at byte {}: expected an 8-byte header length", size));
    unsigned char len_bytes[8];
    f_.read(reinterpret_cast<char*>(len_bytes), 8);
    for (int i = 7; i >= 0; --i) n_ = (n_ << 8) | len_bytes[i];
    if (n_ > size - 8 || n_ > (100u << 20)) {
      // Another kind of file given where a model belongs: say what it looks like.
      const char first = static_cast<char>(len_bytes[0]);
      const bool text = first == '{' || first == '[' || std::isalpha(static_cast<unsigned char>(first));
      std::string start(reinterpret_cast<const char*>(len_bytes), 8);
      for (char& c : start) c = std::isprint(static_cast<unsigned char>(c)) ? c : ' ';
      throw fail(text ? fmt::format("not a model file: it starts with text ('{}…'; a config.json, a CSV?), a model "
                                    "file is safetensors (model.safetensors, or a run folder)",
                                    start)
                      : fmt::format("not a model file (safetensors): header length {} at byte 0 exceeds the file ({} "
                                    "bytes after it)",
                                    n_, size - 8));
    }
    std::string h(n_, '\0');
    f_.read(h.data(), static_cast<std::streamsize>(n_));
    try {
      header_ = detail::parse_json<json>(h, "header");
    } catch (const std::exception& e) {
      throw fail(fmt::format("header (bytes 8..{}) is not valid JSON: {}", 8 + n_, e.what()));
    }
    if (!header_.is_object()) throw fail("header is not a JSON object");
    data_size_ = size - 8 - n_;
  }

  // The input statistics: finite, one per feature; std ≥ 0 (0: a constant feature, left unscaled).
  void read_input(const json& in) {
    ModelInfo& info = mf_.info;
    if (in.contains("mean") || in.contains("std")) {
      info.input.mean = in.at("mean").get<std::vector<float>>();
      info.input.std = in.at("std").get<std::vector<float>>();
      if (info.input.mean.size() != in_features_ || info.input.std.size() != in_features_)
        throw std::runtime_error(fmt::format("input statistics have {} means and {} deviations, the model takes {} "
                                             "features",
                                             info.input.mean.size(), info.input.std.size(), in_features_));
      for (std::size_t j = 0; j < in_features_; ++j)
        if (!std::isfinite(info.input.mean[j]) || !std::isfinite(info.input.std[j]) || info.input.std[j] < 0)
          throw std::runtime_error(fmt::format("input feature {}: mean {} and std {} (expected finite, std ≥ 0)", j,
                                               info.input.mean[j], info.input.std[j]));
    }
    if (in.contains("names")) {
      info.feature_names = in.at("names").get<std::vector<std::string>>();
      if (info.feature_names.size() != in_features_)
        throw std::runtime_error(fmt::format("{} feature names for {} features", info.feature_names.size(), in_features_));
    }
    if (in.contains("label")) info.label_name = in.at("label").get<std::string>();
    if (in.contains("ignored")) info.ignored_columns = in.at("ignored").get<std::vector<std::string>>();
    if (in.contains("impute") || in.contains("fill")) {
      info.impute.strategy = in.at("impute").get<std::string>();
      info.impute.fill = in.at("fill").get<std::vector<float>>();
      if (info.impute.fill.size() != in_features_)
        throw std::runtime_error(fmt::format("{} fill values for {} features", info.impute.fill.size(), in_features_));
      for (float v : info.impute.fill)
        if (!std::isfinite(v)) throw std::runtime_error(fmt::format("fill value {} is not finite", v));
    }
    if (in.contains("min") || in.contains("max")) read_range(in);
  }

  // The training inputs' range: finite, min ≤ max, one of each per feature.
  void read_range(const json& in) {
    InputRange& r = mf_.info.range;
    r.min = in.at("min").get<std::vector<float>>();
    r.max = in.at("max").get<std::vector<float>>();
    r.form = in.value("form", std::string());
    if (r.min.size() != in_features_ || r.max.size() != in_features_)
      throw std::runtime_error(fmt::format("input range has {} minima and {} maxima, the model takes {} features",
                                           r.min.size(), r.max.size(), in_features_));
    for (std::size_t j = 0; j < in_features_; ++j)
      if (!std::isfinite(r.min[j]) || !std::isfinite(r.max[j]) || r.min[j] > r.max[j])
        throw std::runtime_error(fmt::format("input feature {}: range [{}, {}] (expected finite, min <= max)", j,
                                             r.min[j], r.max[j]));
  }

  void read_metadata() {
    auto& metadata = mf_.info.metadata;
    const json meta = header_.value("__metadata__", json::object());
    if (!meta.is_object()) throw fail("__metadata__ is not an object");
    for (auto& [k, v] : meta.items()) {
      if (!v.is_string()) throw fail(fmt::format("__metadata__ entry '{}' is not a string", k));
      metadata[k] = v.get<std::string>();
    }
    if (!metadata.count("gradflow.architecture"))
      throw fail("no gradflow.architecture in __metadata__ (not a gradflow model file)");
    try {
      specs_ = parse_architecture(metadata["gradflow.architecture"], in_features_);
      if (metadata.count("gradflow.input"))
        read_input(detail::parse_json<json>(metadata["gradflow.input"], "gradflow.input"));
      if (metadata.count("gradflow.classes"))
        mf_.info.class_names =
            detail::parse_json<json>(metadata["gradflow.classes"], "gradflow.classes").get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      throw fail(std::string("bad metadata: ") + e.what());
    }
    mf_.info.loss = metadata.count("gradflow.loss") ? metadata["gradflow.loss"] : "";
  }

  // Every tensor entry, validated before any data is read.
  void index_entries() {
    for (auto& [name, t] : header_.items()) {
      if (name == "__metadata__") continue;
      if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets"))
        throw fail(fmt::format("tensor '{}': expected dtype, shape and data_offsets", name));
      if (t["dtype"] != "F32" && t["dtype"] != "I64")
        throw fail(fmt::format("tensor '{}': dtype {} (expected F32, or I64 for a counter)", name, t["dtype"].dump()));
      const json& off = t["data_offsets"];
      if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
        throw fail(fmt::format("tensor '{}': data_offsets must be two non-negative integers", name));
      entries_.push_back({name, off[0].get<std::uint64_t>(), off[1].get<std::uint64_t>()});
      if (entries_.back().begin > entries_.back().end || entries_.back().end > data_size_)
        throw fail(fmt::format("tensor '{}': data_offsets [{}, {}] outside the {} data bytes", name,
                               entries_.back().begin, entries_.back().end, data_size_));
    }
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < entries_.size(); ++i)
      if (entries_[i].begin < entries_[i - 1].end)
        throw fail(fmt::format("tensors '{}' and '{}' overlap", entries_[i - 1].name, entries_[i].name));
  }

  // The architecture may only ask for as much memory as the file's tensors hold: a 2.7 KB
  // header can describe a 3 GB network. Checked before any layer is built.
  void build_model() {
    const std::uint64_t needed = 4 * state_floats(specs_, in_features_);
    if (needed > data_size_)
      throw fail(fmt::format("the architecture needs {} bytes of tensors but the file holds {} data bytes", needed,
                             data_size_));
    mf_.model = std::make_unique<Sequential>(in_features_, specs_);
  }

  void read_at(std::uint64_t begin, char* to, std::uint64_t bytes, const std::string& name) {
    f_.seekg(static_cast<std::streamoff>(8 + n_ + begin));
    f_.read(to, static_cast<std::streamsize>(bytes));
    if (!f_) throw fail(fmt::format("truncated while reading tensor '{}'", name));
  }

  void read_layer_tensors() {
    for (std::size_t k = 0; k < mf_.model->size(); ++k) {
      Layer& l = mf_.model->layer(k);
      for (const StateEntry& e : state_entries(l, k)) {
        if (!header_.contains(e.name)) throw fail(fmt::format("missing tensor '{}' for layer {} ({})", e.name, k, l.name()));
        const json& t = header_[e.name];
        if (t["dtype"] != e.dtype)
          throw fail(fmt::format("tensor '{}': dtype {} (expected {})", e.name, t["dtype"].dump(), e.dtype));
        if (t["shape"] != e.shape)
          throw fail(fmt::format("tensor '{}' has shape {}, layer {} ({}) needs {}", e.name, t["shape"].dump(), k,
                                 l.name(), e.shape.dump()));
        const std::uint64_t b = t["data_offsets"][0], end = t["data_offsets"][1];
        if (end - b != e.bytes)
          throw fail(fmt::format("tensor '{}': {} data bytes for shape {} (expected {})", e.name, end - b,
                                 e.shape.dump(), e.bytes));
        read_at(b, e.data, e.bytes, e.name);
        if (std::string_view(e.dtype) == "F32") check_values(e);
        known_.push_back(e.name);
      }
    }
  }

  void check_values(const StateEntry& e) {
    const std::string bad =
        bad_state_value(e.name, {reinterpret_cast<const float*>(e.data), e.bytes / sizeof(float)});
    if (!bad.empty()) throw fail(fmt::format("tensor '{}': {}", e.name, bad));
  }

  // Optimizer state of a training checkpoint; anything else no layer asked for is an error.
  void read_optimizer_tensors() {
    if (entries_.size() == known_.size()) return;
    for (const Entry& e : entries_) {
      if (std::find(known_.begin(), known_.end(), e.name) != known_.end()) continue;
      if (e.name.rfind("optimizer.", 0) != 0)
        throw fail(fmt::format("unexpected tensor '{}' (not part of the architecture)", e.name));
      const json& t = header_[e.name];
      const std::uint64_t count = mf_.model->num_params();
      if (t["dtype"] != "F32" || t["shape"] != json::array({count}) || e.end - e.begin != count * sizeof(float))
        throw fail(fmt::format("tensor '{}': shape {}, {} bytes; expected F32 [{}] (one value per parameter, {} bytes)",
                               e.name, t["shape"].dump(), e.end - e.begin, count, count * sizeof(float)));
      Tensor v(1, count);
      read_at(e.begin, reinterpret_cast<char*>(v.data()), e.end - e.begin, e.name);
      mf_.tensors[e.name] = std::move(v);
    }
    for (auto& [name, t] : mf_.tensors) mf_.info.tensors.push_back({name, &t});
  }

  struct Entry {
    std::string name;
    std::uint64_t begin, end;
  };
  std::string path_;
  std::istream& f_;
  std::uintmax_t size_;
  std::uint64_t n_ = 0, data_size_ = 0;  // header length; data bytes after it
  json header_;
  ModelFile mf_;
  std::vector<LayerSpec> specs_;
  std::size_t in_features_ = 0;
  std::vector<Entry> entries_;
  std::vector<std::string> known_;  // the entries the layers read
};

}  // namespace

ModelFile load_model(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(fmt::format("cannot open '{}': no such file", path));
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  std::ifstream f(path, std::ios::binary);
  if (!f || ec) throw std::runtime_error(fmt::format("cannot open '{}'", path));
  return ModelReader(f, size, path).read();
}

ModelFile deserialize_model(std::string_view bytes, const std::string& name) {
  std::istringstream in{std::string(bytes)};
  return ModelReader(in, bytes.size(), name).read();
}

std::string bad_state_value(std::string_view name, std::span<const float> values) {
  const bool variance = name.ends_with("running_var");
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]) || (variance && values[i] < 0))
      return fmt::format("element {} is {} (expected {})", i, values[i],
                         variance ? "a variance: finite and ≥ 0" : "a finite number");
  return "";
}

}  // namespace gradflow
