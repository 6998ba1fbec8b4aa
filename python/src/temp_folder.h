// A private folder under the system's temporary directory, removed with the object: where the
// bindings let the library's path-based writers (model files, run folders, report pages) work
// for Python calls that take and return bytes or text.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <fmt/format.h>

namespace gradflow::python {

struct TempFolder {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               fmt::format("gradflow-py-{}-{}", ::getpid(), reinterpret_cast<std::uintptr_t>(this));
  TempFolder() { std::filesystem::create_directories(path); }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace gradflow::python
