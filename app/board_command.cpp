// `gradflow board [FOLDER…]`: serves the board (src/runs/board.h) until Ctrl-C or SIGTERM.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "commands.h"
#include "runs/board.h"

namespace gradflow::app {

namespace {
std::atomic<int> g_board_signal{0};
}  // namespace

int board(const BoardOptions& options) {
  Board b(options);
  if (!is_loopback(options.host))
    fmt::print(stderr, "gradflow board: warning: listening on {}: the runs under {} are visible to every machine that "
                       "reaches this one (the default, 127.0.0.1, serves this machine alone)\n",
               options.host, fmt::join(options.folders, ", "));
  fmt::print("gradflow board: {} (following {}; Ctrl-C stops it)\n", b.url(), fmt::join(options.folders, ", "));
  std::fflush(stdout);
  // A signal only marks the request (whichever thread it lands on); a watcher stops the server,
  // which ends cleanly, its connections closed, whatever it was serving.
  struct sigaction action {};
  action.sa_handler = [](int sig) { g_board_signal.store(sig); };
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  std::atomic<bool> served{false};
  std::thread watcher([&] {
    while (!served.load() && g_board_signal.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    b.stop();
  });
  b.serve();
  served.store(true);
  watcher.join();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  fmt::print("gradflow board: stopped\n");
  return 0;
}

}  // namespace gradflow::app
