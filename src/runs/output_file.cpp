#include "runs/output_file.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "gradflow/detail/quote.h"

namespace gradflow::runs {

namespace {
// Whether the file's head carries the mark of a page gradflow drew.
bool is_our_page(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return head.find(kPageGenerator) != std::string::npos;
}
}  // namespace

void check_output(const std::string& path, OutputKind kind, bool force) {
  std::error_code ec;
  if (force || !std::filesystem::exists(path, ec)) return;
  if (std::filesystem::is_directory(path, ec))
    throw std::runtime_error(fmt::format("cannot write {}: it is a folder", detail::quote(path)));
  if (kind == OutputKind::Page && is_our_page(path)) return;
  throw std::runtime_error(fmt::format("{} exists{}: pass --force to replace it, or --out another file",
                                       detail::quote(path), kind == OutputKind::Page ? " and is not a page gradflow drew" : ""));
}

}  // namespace gradflow::runs
