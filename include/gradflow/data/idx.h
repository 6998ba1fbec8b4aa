// IDX files (the MNIST format), plain or gzip-compressed (read through zlib, which passes
// uncompressed files through unchanged).
//
//   images: magic 0x00000803, then u32 count, rows, cols (big-endian), then count·rows·cols
//           unsigned bytes — returned as [count, rows·cols] floats scaled to [0, 1]
//   labels: magic 0x00000801, then u32 count, then count unsigned bytes — [count, 1]
//
// Errors (std::runtime_error) name the file, the byte position and what was expected: a
// missing file, a wrong magic number, a truncated file, trailing bytes.
#pragma once

#include <string>
#include <vector>

#include "gradflow/data/dataset.h"

namespace gradflow::idx {

// limit > 0: only the first `limit` images are read (a gzip'd file is decoded no further).
Tensor read_images(const std::string& path, std::size_t limit = 0);
Tensor read_labels(const std::string& path);
// Images and labels as one classification data set; throws when the counts differ.
// num_classes is max(label) + 1 unless given.
Dataset read_pair(const std::string& images, const std::string& labels, std::size_t num_classes = 0,
                  std::size_t limit = 0);

// Fashion-MNIST from a folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
// (Debian's dataset-fashion-mnist installs them in kFashionMnistDir), with the class names.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
Dataset fashion_mnist(const std::string& dir, bool train, std::size_t limit = 0);
// The same file layout for any MNIST-format set in dir (train or t10k).
Dataset mnist_dir(const std::string& dir, bool train, const std::string& name, std::size_t limit = 0);
const std::vector<std::string>& fashion_mnist_classes();

}  // namespace gradflow::idx
