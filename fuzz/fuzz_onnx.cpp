// ONNX files: any bytes through from_onnx (protobuf, graph, initializers, metadata).
#include <exception>
#include <string>

#include "gradflow/onnx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    gradflow::from_onnx(std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
  } catch (const std::exception&) {
  }
  return 0;
}
