// Model files: any bytes through load_model (header, metadata, architecture, tensors).
#include <exception>

#include "fuzz_input.h"
#include "gradflow/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = gradflow::fuzz::input_file(data, size, ".safetensors");
  try {
    gradflow::load_model(path);
  } catch (const std::exception&) {
  }
  return 0;
}
