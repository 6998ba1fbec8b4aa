// Shared by the CLI end-to-end tests: run the tool, a temporary folder per test, IDX and CSV
// builders, and what a clean error looks like.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace gradflow_cli_test {

struct Result {
  int code;
  std::string out, err;
};

// Runs a shell command line with stdout and stderr captured separately.
inline Result run_in_shell(const std::string& command) {
  static int counter = 0;
  const fs::path err_file = fs::temp_directory_path() / ("gradflow_cli_err_" + std::to_string(::getpid()) + "_" +
                                                          std::to_string(counter++));
  const std::string cmd = "(" + command + ") 2>" + err_file.string();
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_file);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  fs::remove(err_file);
  return r;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    // A parameterized test's name has a '/' in it ("QuickFormReproducesItsClaims/xor"): one
    // folder, not a folder in a folder that TearDown would leave behind.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir = fs::temp_directory_path() / ("gradflow_cli_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }
  fs::path dir;
};

// Runs `gradflow ARGS`.
inline Result run(const std::string& args) { return run_in_shell(std::string(GRADFLOW_CLI) + " " + args); }

inline std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX image file of n images of r×c pixels (pixel value = (i + j) % 256), or with a
// different magic / fewer bytes than the header promises.
inline std::string idx_images(std::uint32_t n, std::uint32_t r, std::uint32_t c, std::uint32_t magic = 0x803,
                       std::size_t drop = 0) {
  std::string s = be32(magic) + be32(n) + be32(r) + be32(c);
  for (std::size_t i = 0; i < std::size_t{n} * r * c; ++i) s += static_cast<char>(i % 251);
  return s.substr(0, s.size() - drop);
}
inline std::string idx_labels(std::uint32_t n, std::uint32_t classes = 3) {
  std::string s = be32(0x801) + be32(n);
  for (std::uint32_t i = 0; i < n; ++i) s += static_cast<char>(i % classes);
  return s;
}

// The main job's recipe (Adam, cosine) switched off: plain minibatch SGD (BatchNorm and dropout
// are only where --layers says).
inline const std::string kPlain = " --optimizer sgd --schedule none ";

inline std::vector<nlohmann::json> read_jsonl(const std::string& p) {
  std::vector<nlohmann::json> rows;
  std::ifstream f(p);
  for (std::string line; std::getline(f, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// A bad input: non-zero exit, one line on stderr that names `what`, and no run folder.
inline void expect_clean_error(const Result& r, const std::string& what, const fs::path& out) {
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("gradflow: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << "message should name '" << what << "': " << r.err;
  EXPECT_FALSE(fs::exists(out)) << "a run folder was left behind";
}

inline std::string slurp(const std::string& p) {
  std::stringstream ss;
  ss << std::ifstream(p, std::ios::binary).rdbuf();
  return ss.str();
}

// Starts `gradflow ARGS` in the background (in folder `cwd`, if given), its output into `log`;
// returns its pid.
inline pid_t spawn(const std::string& args, const std::string& log, const std::string& cwd = "") {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = (cwd.empty() ? "" : "cd '" + cwd + "' && ") + "exec " + std::string(GRADFLOW_CLI) + " " +
                            args + " > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// Its exit code (128 + the signal that ended it).
inline int wait_for(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "waitpid: " << std::strerror(errno);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The JSON header of a safetensors file (its __metadata__ included).
inline nlohmann::json safetensors_header(const std::string& p) {
  const std::string bytes = slurp(p);
  if (bytes.size() < 8) return nullptr;
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  return nlohmann::json::parse(bytes.substr(8, n));
}

// Renders a page in headless Chromium (kept off the network) and returns the DOM after its
// scripts ran; "" when Chromium is not installed.
inline std::string render(const std::string& page, const fs::path& profile, int window_width = 0) {
  if (!fs::exists("/usr/bin/chromium")) return "";
  const std::string size = window_width ? " --window-size=" + std::to_string(window_width) + ",900" : "";
  const std::string cmd = "timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic" + size +
                          " "
                          "--no-first-run --disable-background-networking --disable-component-update --disable-sync "
                          "--user-data-dir=" + profile.string() + " --virtual-time-budget=10000 --dump-dom file://" +
                          page + " 2>/dev/null";
  std::string dom;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) dom.append(buf.data(), n);
  pclose(p);
  return dom;
}

// The value of attribute `attr` of the chart whose title is `title` in a rendered page ("" if
// none), with &quot; turned back into quotes.
inline std::string chart_attr(const std::string& dom, const std::string& title, const std::string& attr) {
  const std::size_t t = dom.find(">" + title + "<");
  if (t == std::string::npos) return "";
  const std::size_t open = dom.rfind("<div class=\"chart\"", t);
  const std::size_t end = dom.find('>', open);
  const std::string tag = dom.substr(open, end - open);
  const std::size_t a = tag.find(" " + attr + "=\"");
  if (a == std::string::npos) return "";
  const std::size_t v = a + attr.size() + 3;
  std::string value = tag.substr(v, tag.find('"', v) - v);
  for (std::size_t q; (q = value.find("&quot;")) != std::string::npos;) value.replace(q, 6, "\"");
  return value;
}

// Whole lines in a JSON-lines file being written (a last line without its newline is not one).
inline std::size_t read_jsonl_lines(const std::string& p) {
  const std::string t = slurp(p);
  return static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n'));
}

// Occurrences of `what` in `text`.
inline std::size_t count(const std::string& text, const std::string& what) {
  std::size_t c = 0;
  for (std::size_t p = 0; (p = text.find(what, p)) != std::string::npos; p += what.size()) ++c;
  return c;
}

}  // namespace gradflow_cli_test
