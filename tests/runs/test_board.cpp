// The board's server in process (src/runs/board.cpp): what it lists, what it serves, and what it
// refuses — under the sanitizers too (the browser test is tests/python/test_board.py).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "runs/board.h"
#include "runs/run_folder.h"

namespace gradflow::runs {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A run folder as train leaves it: its configuration, records (the last line still being
// written) and how it ended.
void make_run(const fs::path& dir, int epochs) {
  write(dir / "config.json", R"({"epochs": 5, "optimizer": "adam", "lr": 0.004, "layers": "8:relu"})");
  std::string metrics;
  for (int e = 1; e <= epochs; ++e)
    metrics += R"({"epoch": )" + std::to_string(e) + R"(, "train_loss": 0.5, "train_acc": 0.8, "lr": 0.004})" "\n";
  write(dir / "metrics.jsonl", metrics + R"({"epoch": 99, "train_lo)");
  write(dir / "status.json", R"({"state": "finished", "message": "after 3 epochs"})");
}

struct Served {
  fs::path root = fs::temp_directory_path() / ("gradflow_board_" + std::to_string(::getpid()));
  std::unique_ptr<Board> board;
  std::thread thread;
  Served() {
    fs::remove_all(root);
    make_run(root / "runs" / "a", 3);
    make_run(root / "runs" / "sweep" / "b", 2);
    make_run(root / "secret", 1);
    fs::create_directory_symlink(root / "secret", root / "runs" / "link");
    board = std::make_unique<Board>(BoardOptions{.folders = {(root / "runs").string()}, .port = 0});
    thread = std::thread([this] { board->serve(); });
  }
  ~Served() {
    board->stop();
    thread.join();
    fs::remove_all(root);
  }
};

TEST(Board, ListsTheRunsUnderItsFoldersWithTheirStateAndServesTheirRecords) {
  Served s;
  httplib::Client client("127.0.0.1", s.board->port());
  const auto runs = client.Get("/api/runs");
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->status, 200);
  const auto list = nlohmann::json::parse(runs->body);
  std::set<std::string> names;
  for (const auto& r : list) names.insert(r["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"a", "sweep/b"}));  // not the folder a link leads out to
  for (const auto& r : list) EXPECT_EQ(r["state"], "finished");
  const auto view = client.Get("/api/view?run=a&run=sweep%2Fb");
  ASSERT_TRUE(view);
  ASSERT_EQ(view->status, 200);
  const auto v = nlohmann::json::parse(view->body);
  ASSERT_EQ(v["data"]["runs"].size(), 2u);
  EXPECT_EQ(v["data"]["runs"][0]["metrics"].size(), 3u);  // the half-written last line is no record
  EXPECT_NE(client.Get("/")->body.find("gradflowDrawRuns"), std::string::npos);  // the report's chart code
}

// A page's poll costs stat calls when nothing changed: the answer's ETag sent back gets a 304
// with no body; a new record changes it. JSON goes out uncompressed (brotli cost the board more
// than all else it did, for nothing on loopback).
TEST(Board, SaysNotModifiedUntilARunsFilesChange) {
  Served s;
  httplib::Client client("127.0.0.1", s.board->port());
  for (const char* path : {"/api/runs", "/api/view?run=a"}) {
    const auto first = client.Get(path, {{"Accept-Encoding", "br, gzip"}});
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 200) << path;
    EXPECT_FALSE(first->has_header("Content-Encoding")) << path;
    const std::string tag = first->get_header_value("ETag");
    ASSERT_FALSE(tag.empty()) << path;
    const auto again = client.Get(path, {{"If-None-Match", tag}});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304) << path;
    EXPECT_TRUE(again->body.empty()) << path;
    std::ofstream(s.root / "runs" / "a" / "metrics.jsonl", std::ios::app) << "an epoch more\n";
    const auto changed = client.Get(path, {{"If-None-Match", tag}});
    ASSERT_TRUE(changed);
    EXPECT_EQ(changed->status, 200) << path;
    EXPECT_NE(changed->get_header_value("ETag"), tag) << path;
  }
}

TEST(Board, ServesNothingButItsPageAndTheRunsItLists) {
  Served s;
  httplib::Client client("127.0.0.1", s.board->port());
  for (const char* path : {"/api/view?run=../secret", "/api/view?run=link", "/api/view?run=%2e%2e%2fsecret",
                           "/api/view?run=%2Ftmp", "/api/view?run=a%00", "/api/view", "/runs/a/config.json",
                           "/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd"}) {
    const auto r = client.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_TRUE(r->status == 400 || r->status == 404) << path << " → " << r->status;
  }
  const auto del = client.Delete("/api/runs");
  ASSERT_TRUE(del);
  EXPECT_NE(del->status, 200);
  EXPECT_TRUE(fs::exists(s.root / "runs" / "a" / "config.json"));
}

TEST(Board, ReadsTheTailOfALargeRecordsFileAndEveryKthRecordOfALongRun) {
  const fs::path dir = fs::temp_directory_path() / ("gradflow_tail_" + std::to_string(::getpid()));
  std::string lines;
  for (int e = 1; e <= 10000; ++e) lines += R"({"epoch": )" + std::to_string(e) + "}\n";
  write(dir / "metrics.jsonl", lines + R"({"epo)");
  const RunFolder f(dir.string());
  const auto all = f.read_metrics_tail(1 << 20);
  ASSERT_EQ(all.size(), 10000u);
  const auto strided = f.read_metrics_tail(1 << 20, 100);
  EXPECT_EQ(strided.size(), 100u);
  EXPECT_EQ(strided.back()["epoch"], 10000);  // the newest record always
  const auto tail = f.read_metrics_tail(1000);  // the last 1000 bytes: whole lines only
  ASSERT_FALSE(tail.empty());
  EXPECT_EQ(tail.back()["epoch"], 10000);
  EXPECT_GT(tail.front()["epoch"].get<int>(), 9900);
  fs::remove_all(dir);
}

// The peak resident memory of this process, in MB.
double peak_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  return 0;
}

TEST(Board, AOneGigabyteRecordsFileCostsItsTailNotItsSize) {
  Served s;
  const fs::path metrics = s.root / "runs" / "a" / "metrics.jsonl";
  {  // 1 GB: a hole, then the newest 5,000 records
    std::ofstream f(metrics, std::ios::trunc);
    f.seekp((std::streamoff{1} << 30) - 1);
    f.put('\n');
    for (int e = 1; e <= 5000; ++e) f << R"({"epoch": )" << e << R"(, "train_loss": 0.5})" << "\n";
  }
  const double before = peak_mb();
  httplib::Client client("127.0.0.1", s.board->port());
  const auto view = client.Get("/api/view?run=a");
  ASSERT_TRUE(view);
  ASSERT_EQ(view->status, 200);
  const auto runs = nlohmann::json::parse(view->body)["data"]["runs"];
  EXPECT_LE(runs[0]["metrics"].size(), 2000u);
  EXPECT_EQ(runs[0]["metrics"].back()["epoch"], 5000);
  EXPECT_LT(peak_mb() - before, 200) << "the view of a 1 GB file held more than its 32 MB tail's worth";
}

TEST(Board, KnowsALoopbackAddressAndSaysWhenItCannotListen) {
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("localhost"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  EXPECT_THROW(Board(BoardOptions{.host = "192.0.2.1", .port = 1}), std::runtime_error);
}

}  // namespace
}  // namespace gradflow::runs
