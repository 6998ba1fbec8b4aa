// The board's server in process (src/runs/board.cpp): what it lists, what it serves, and what it
// refuses — under the sanitizers too (the browser test is tests/python/test_board.py).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "runs/board.h"
#include "runs/run_folder.h"
#include "gradflow/model_file.h"

namespace gradflow::runs {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// The JSON a GET answers; anything but a 200 fails the test, naming the path and status.
nlohmann::json get_json(httplib::Client& client, const std::string& path) {
  const auto r = client.Get(path);
  if (!r || r->status != 200) {
    ADD_FAILURE() << "GET " << path << ": " << (r ? std::to_string(r->status) : httplib::to_string(r.error()));
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(r->body);
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
  const nlohmann::json list = get_json(client, "/api/runs");
  std::set<std::string> names;
  for (const auto& r : list) names.insert(r["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"a", "sweep/b"}));  // not the folder a link leads out to
  for (const auto& r : list) EXPECT_EQ(r["state"], "finished");
  const nlohmann::json v = get_json(client, "/api/view?run=a&run=sweep%2Fb");
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

// The listing keeps each run's summary until that run's files change: the run that trains shows
// its new epoch, the others what they showed.
TEST(Board, AListingShowsTheNewEpochOfTheRunThatChanged) {
  Served s;
  httplib::Client client("127.0.0.1", s.board->port());
  const auto epochs = [&] {
    std::map<std::string, int> e;
    for (const auto& r : get_json(client, "/api/runs")) e[r["name"]] = r["epochs"];
    return e;
  };
  EXPECT_EQ(epochs(), (std::map<std::string, int>{{"a", 3}, {"sweep/b", 2}}));
  std::ofstream(s.root / "runs" / "a" / "metrics.jsonl", std::ios::app) << "ss\": 0.4}\n{\"epoch\": 4}\n";
  EXPECT_EQ(epochs(), (std::map<std::string, int>{{"a", 4}, {"sweep/b", 2}}));
  fs::remove_all(s.root / "runs" / "sweep");
  EXPECT_EQ(epochs(), (std::map<std::string, int>{{"a", 4}}));
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

// A live view is sent only the records it lacks — and everything anew whenever what it holds may
// not be a prefix of the file: another file (a run started anew, records rewritten on resuming),
// a place that is not a line's end, or more new records than a view keeps.
TEST(Board, AViewTakesOnlyTheRecordsItLacksAndAllAnewWhenTheFileIsNotTheOneItHeld) {
  const fs::path dir = fs::temp_directory_path() / ("gradflow_since_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  write(dir / "config.json", "{}");
  const auto lines = [](int from, int to) {
    std::string t;
    for (int e = from; e <= to; ++e) t += R"({"epoch": )" + std::to_string(e) + "}\n";
    return t;
  };
  write(dir / "metrics.jsonl", lines(1, 5) + R"({"epo)");
  const RunFolder f(dir.string());
  const auto epochs = [](const nlohmann::json& records) {
    std::vector<int> e;
    for (const auto& r : records) e.push_back(r["epoch"].get<int>());
    return e;
  };
  const auto first = f.read_metrics_since({}, 1 << 20, 100);
  EXPECT_FALSE(first.appended);
  EXPECT_EQ(epochs(first.records), (std::vector<int>{1, 2, 3, 4, 5}));  // not the line being written
  EXPECT_EQ(first.held.count, 5u);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "ch\": 6}\n" << lines(7, 7) << R"({"ep)";
  const auto next = f.read_metrics_since(first.held, 1 << 20, 100);
  EXPECT_TRUE(next.appended);
  EXPECT_EQ(epochs(next.records), (std::vector<int>{6, 7}));
  EXPECT_EQ(next.held.count, 7u);
  const auto same = f.read_metrics_since(next.held, 1 << 20, 100);
  EXPECT_TRUE(same.appended);
  EXPECT_TRUE(same.records.empty());
  // Not where a line ends; another file of the same text; the run's configuration written anew.
  RunFolder::Held mid = next.held;
  mid.end -= 3;
  EXPECT_EQ(epochs(f.read_metrics_since(mid, 1 << 20, 100).records), (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  write_file_atomic(f.metrics(), lines(1, 7));
  const auto replaced = f.read_metrics_since(next.held, 1 << 20, 100);
  EXPECT_FALSE(replaced.appended);
  EXPECT_EQ(replaced.records.size(), 7u);
  write_file_atomic(f.config(), "{\"resumed\": true}");
  EXPECT_FALSE(f.read_metrics_since(replaced.held, 1 << 20, 100).appended);
  // Resumed: the records past the checkpoint dropped, then more written past where the view was.
  const auto before = f.read_metrics_since({}, 1 << 20, 100);
  keep_records(f.metrics(), "epoch", 3);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << lines(4, 9);
  const auto resumed = f.read_metrics_since(before.held, 1 << 20, 100);
  EXPECT_FALSE(resumed.appended);
  EXPECT_EQ(epochs(resumed.records), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // More new records than a view takes at once: every k-th of the whole tail; a view that would
  // hold more than twice that: the same.
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << lines(10, 200);
  const auto many = f.read_metrics_since(resumed.held, 1 << 20, 100);
  EXPECT_FALSE(many.appended);
  EXPECT_LE(many.records.size(), 100u);
  EXPECT_EQ(many.records.back()["epoch"], 200);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << lines(201, 260);
  const auto more = f.read_metrics_since(many.held, 1 << 20, 100);
  EXPECT_TRUE(more.appended);
  EXPECT_EQ(more.records.size(), 60u);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << lines(261, 320);
  EXPECT_FALSE(f.read_metrics_since(more.held, 1 << 20, 100).appended);
  fs::remove_all(dir);
}

// The page sends back what it holds of each run (`held`) and is answered with the rest; a
// token that does not parse holds nothing.
TEST(Board, AViewAnswersWithTheRecordsThePageLacks) {
  Served s;
  httplib::Client client("127.0.0.1", s.board->port());
  const nlohmann::json run = get_json(client, "/api/view?run=a")["data"]["runs"][0];
  EXPECT_EQ(run["appended"]["metrics"], false);
  const std::string held = run["held"];
  std::ofstream(s.root / "runs" / "a" / "metrics.jsonl", std::ios::app)
      << R"(ss": 0.4})" << "\n" << R"({"epoch": 5, "train_loss": 0.3})" << "\n";  // the line being written, ended
  const std::vector<std::tuple<std::string, bool, std::size_t>> asked = {{held, true, 2}, {"nonsense", false, 5}, {"", false, 5}};
  for (const auto& [token, appended, records] : asked) {
    const nlohmann::json v = get_json(client, "/api/view?run=a&held=" + token);  // digits, '.', '~': nothing to escape
    const nlohmann::json& got = v["data"]["runs"][0];
    EXPECT_EQ(got["appended"]["metrics"], appended) << token;
    EXPECT_EQ(got["metrics"].size(), records) << token;
    EXPECT_EQ(got["metrics"].back()["epoch"], 5) << token;
    EXPECT_NE(v["headline"].dump().find("0.3"), std::string::npos) << "the headline is of the newest record";
  }
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
  const nlohmann::json runs = get_json(client, "/api/view?run=a")["data"]["runs"];
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
