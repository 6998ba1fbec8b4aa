#include "gradflow/data/idx.h"
#include "gradflow/data/input_range.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace gradflow::idx {

namespace {

constexpr std::uint32_t kImageMagic = 0x00000803, kLabelMagic = 0x00000801;

// A gzip-or-plain input file that knows its uncompressed position, for error messages.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    if (!std::filesystem::exists(path))
      throw std::runtime_error(fmt::format("cannot open '{}': no such file", path));
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) throw std::runtime_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
    gzbuffer(f_, 1 << 17);
  }
  ~Reader() {
    if (f_) gzclose(f_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Read exactly n bytes or throw, naming what was being read.
  void read(void* dst, std::size_t n, const std::string& what) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t got = 0;
    while (got < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
      const int r = gzread(f_, out + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(f_, &code);
        throw std::runtime_error(fmt::format("{}: corrupt data at byte {} while reading {}: {}",
                                             path_, pos_ + got, what, msg));
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    if (got < n)
      throw std::runtime_error(fmt::format(
          "{}: truncated at byte {}: expected {} bytes of {} from byte {}, the file ends after {}",
          path_, pos_ + got, n, what, pos_, got));
    pos_ += n;
  }
  std::uint32_t u32(const std::string& what) {
    unsigned char b[4];
    read(b, 4, what);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  }
  void expect_end() {
    unsigned char b;
    if (gzread(f_, &b, 1) > 0)
      throw std::runtime_error(fmt::format("{}: unexpected data after byte {} (the header's counts end there)",
                                           path_, pos_));
  }
  std::size_t pos() const { return pos_; }

 private:
  std::string path_;
  gzFile f_ = nullptr;
  std::size_t pos_ = 0;
};

void check_magic(const std::string& path, std::uint32_t got, std::uint32_t want, const char* kind) {
  if (got != want)
    throw std::runtime_error(fmt::format(
        "{}: bad magic number 0x{:08x} at byte 0 (expected 0x{:08x} for an IDX {} file)", path,
        got, want, kind));
}

}  // namespace

Tensor read_images(const std::string& path, std::size_t limit) {
  Reader r(path);
  check_magic(path, r.u32("the magic number"), kImageMagic, "image");
  const std::uint32_t count = r.u32("the image count"), rows = r.u32("the row count"),
                      cols = r.u32("the column count");
  // With a limit, the images after it are neither decoded nor checked.
  const std::uint32_t n = limit && limit < count ? static_cast<std::uint32_t>(limit) : count;
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
    throw std::runtime_error(
        fmt::format("{}: implausible image size {}×{} at byte 8 (expected 1..4096 each)", path, rows, cols));
  const std::size_t pixels = std::size_t{rows} * cols;
  // The count is checked against the data as it is read, in chunks of about 1 MiB, so a
  // hostile header cannot make us allocate more than the file holds (a 16-byte header can
  // claim 4096×4096 pixels times 2³² images).
  Tensor x;
  const std::size_t per_chunk = std::max<std::size_t>(1, (std::size_t{1} << 20) / pixels);
  std::vector<unsigned char> buf(std::min<std::size_t>(per_chunk, std::max<std::uint32_t>(n, 1)) * pixels);
  std::size_t done = 0;
  std::vector<float> values;  // grows with the data actually read, never with the header
  while (done < n) {
    const std::size_t batch = std::min<std::size_t>(per_chunk, n - done);
    r.read(buf.data(), batch * pixels,
           fmt::format("pixels (images {}..{} of {}, {}×{} each)", done, done + batch - 1, count, rows, cols));
    for (std::size_t i = 0; i < batch * pixels; ++i) values.push_back(static_cast<float>(buf[i]) / 255.0f);
    done += batch;
  }
  if (n == count) r.expect_end();
  x.resize(n, pixels);
  if (!values.empty()) std::memcpy(x.data(), values.data(), values.size() * sizeof(float));
  return x;
}

Tensor read_labels(const std::string& path) {
  Reader r(path);
  check_magic(path, r.u32("the magic number"), kLabelMagic, "label");
  const std::uint32_t n = r.u32("the label count");
  std::vector<unsigned char> buf;
  std::size_t done = 0;
  Tensor y;
  std::vector<float> values;
  while (done < n) {
    const std::size_t batch = std::min<std::size_t>(1 << 16, n - done);
    buf.resize(batch);
    r.read(buf.data(), batch, fmt::format("labels ({} of {} read)", done, n));
    for (unsigned char b : buf) values.push_back(static_cast<float>(b));
    done += batch;
  }
  r.expect_end();
  y.resize(n, 1);
  if (!values.empty()) std::memcpy(y.data(), values.data(), values.size() * sizeof(float));
  return y;
}

Dataset read_pair(const std::string& images, const std::string& labels, std::size_t num_classes, std::size_t limit) {
  Dataset d;
  d.name = images;
  d.x = read_images(images, limit);
  d.input_form = kIdxPixelForm;
  d.y = read_labels(labels);
  if (limit && d.x.rows() == limit && d.y.rows() > limit) {
    // The classes are counted on every label, as without a limit; the samples are the first ones.
    std::size_t max_label = 0;
    for (float v : d.y.span()) max_label = std::max(max_label, static_cast<std::size_t>(v));
    if (num_classes == 0) num_classes = max_label + 1;
    Tensor first(limit, 1);
    std::copy(d.y.data(), d.y.data() + limit, first.data());
    d.y = std::move(first);
  }
  if (d.x.rows() != d.y.rows())
    throw std::runtime_error(fmt::format("{} has {} images but {} has {} labels", images,
                                         d.x.rows(), labels, d.y.rows()));
  std::size_t max_label = 0;
  for (float v : d.y.span()) max_label = std::max(max_label, static_cast<std::size_t>(v));
  d.num_classes = num_classes ? num_classes : max_label + 1;
  for (std::size_t i = 0; i < d.y.size(); ++i)
    if (d.y[i] >= static_cast<float>(d.num_classes))
      throw std::runtime_error(fmt::format("{}: label {} at byte {} is out of range (expected 0..{})",
                                           labels, d.y[i], 8 + i, d.num_classes - 1));
  return d;
}

namespace {
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    const std::string p = (std::filesystem::path(dir) / (stem + ext)).string();
    if (std::filesystem::exists(p)) return p;
  }
  throw std::runtime_error(fmt::format("cannot open '{}/{}[.gz]': no such file", dir, stem));
}
}  // namespace

Dataset mnist_dir(const std::string& dir, bool train, const std::string& name, std::size_t limit) {
  const std::string prefix = train ? "train" : "t10k";
  Dataset d = read_pair(find_file(dir, prefix + "-images-idx3-ubyte"),
                        find_file(dir, prefix + "-labels-idx1-ubyte"), 0, limit);
  d.name = name;
  return d;
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

Dataset fashion_mnist(const std::string& dir, bool train, std::size_t limit) {
  Dataset d = mnist_dir(dir, train, train ? "fashion-mnist (train)" : "fashion-mnist (test)", limit);
  d.num_classes = 10;
  d.class_names = fashion_mnist_classes();
  return d;
}

}  // namespace gradflow::idx
