// gradflow board: a local web server that follows run folders as they grow. Its page lists the
// runs found under the given folders (new ones appear) with their state — running, finished,
// diverged, interrupted, stopped — recipe and headline; the runs selected are drawn with the
// report's own charts (gradflowDrawRuns), updated in place as their metrics.jsonl and
// diagnostics.jsonl grow, warnings included as they are raised. The page polls every 10 s (it is
// never reloaded) with the ETag of what it has; an answer that would be the same is a 304 decided
// from the files' sizes and times (stat calls only). It also sends back what it holds of each
// run's records (`held`: where they end in each file, how many, which file that was), and is
// sent only the records after that — all of them anew when the file is not the one it held, or
// when that would hold more than 2 × max_records. JSON goes out uncompressed.
//
// Safe to leave running: GET only (nothing is written or deleted); a client names a run by its
// name in the listing and is served JSON built from that folder's own files, never a path it
// gave; folders reached through a link that leads outside the given folders are not listed; at
// most `max_record_bytes` of each records file is read per request (the newest records), and
// at most `max_records` of them parsed (every k-th of a longer run: a chart shows no more).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gradflow::runs {

struct BoardOptions {
  std::vector<std::string> folders = {"runs"};
  std::string host = "127.0.0.1";
  int port = 6060;                          // 0: a free one (Board::port() says which)
  std::size_t max_record_bytes = 32 << 20;  // per records file and request: the newest
  std::size_t max_records = 2000;           // per records file and request: every k-th beyond
};

// A run found under the folders: its name in the listing (its path below the folder given,
// prefixed by that folder when several are given), folder, state and headline.
struct BoardRun {
  std::string name, dir;
  nlohmann::json summary;  // {name, state, message, epochs, planned, last: {…}, recipe: "adam lr 0.004, …"}
};
std::vector<BoardRun> find_runs(const std::vector<std::string>& folders);

class Board {
 public:
  // Binds the address (throws std::runtime_error naming it when that fails).
  explicit Board(BoardOptions options);
  ~Board();
  Board(const Board&) = delete;
  Board& operator=(const Board&) = delete;
  int port() const { return port_; }
  std::string url() const;
  // Serves until stop() (from another thread or a signal handler's thread).
  void serve();
  void stop();

 private:
  struct Server;
  BoardOptions o_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

// Whether `host` is a loopback address (else the runs become visible on the network).
bool is_loopback(const std::string& host);

}  // namespace gradflow::runs
