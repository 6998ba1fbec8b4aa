// IDX reader: any bytes, as an image file and as a label file (gzip or not: zlib reads both).
#include <exception>

#include "fuzz_input.h"
#include "gradflow/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gradflow::fuzz::input_file(data, size, ".idx");
  try {
    gradflow::idx::read_images(path);
  } catch (const std::exception&) {
  }
  try {
    gradflow::idx::read_labels(path);
  } catch (const std::exception&) {
  }
  return 0;
}
