// Every environment variable gradflow reads, read here once (see gradflow/runtime.h).
#include "gradflow/runtime.h"

#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

namespace gradflow {

namespace {

std::string_view env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

[[noreturn]] void bad(const char* name, std::string_view value, const char* accepted) {
  // (No fmt here: the benchmarks build this file without the library.)
  throw std::invalid_argument(std::string(name) + "=" + std::string(value) + ": expected " + accepted);
}

Runtime read() {
  Runtime r;
  if (const std::string_view t = env("GRADFLOW_NUM_THREADS"); !t.empty()) {
    int n = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (ec != std::errc() || p != t.data() + t.size() || n < 1 || n > 1024)
      bad("GRADFLOW_NUM_THREADS", t, "a number of threads from 1 to 1024");
    r.threads = n;
  }
  r.sgemm = env("GRADFLOW_SGEMM");
  if (!r.sgemm.empty() && r.sgemm != "onednn" && r.sgemm != "openblas")
    bad("GRADFLOW_SGEMM", r.sgemm, "onednn or openblas");
#if !defined(GRADFLOW_ONEDNN)
  if (r.sgemm == "onednn")
    throw std::invalid_argument("GRADFLOW_SGEMM=onednn: this build of gradflow has no oneDNN (libdnnl-dev was not "
                                "installed when it was configured)");
#endif
  if (const std::string_view x = env("GRADFLOW_XSMM"); !x.empty()) {
    if (x != "0" && x != "1") bad("GRADFLOW_XSMM", x, "0 (off) or 1 (where it helps: the default)");
    r.xsmm = x == "1";
  }
  r.openblas_coretype = !env("OPENBLAS_CORETYPE").empty();
  r.mpi_launcher = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK");
  return r;
}

}  // namespace

const Runtime& runtime() {
  // Read once; an error is kept and thrown again to every caller.
  static const std::variant<Runtime, std::string> settings = []() -> std::variant<Runtime, std::string> {
    try {
      return read();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
  }();
  if (const auto* error = std::get_if<std::string>(&settings)) throw std::invalid_argument(*error);
  return std::get<Runtime>(settings);
}

}  // namespace gradflow
