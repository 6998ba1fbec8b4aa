#include "run_guard.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

namespace gradflow::app {

namespace {
// Written by the handler, read between steps: a lock-free atomic is async-signal-safe.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_signal(int sig) {
  if (g_signal.exchange(sig) != 0) _exit(128 + sig);  // the second one: stop now
  static const char msg[] = "\ngradflow: stopping after this step (again to stop at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
}

struct sigaction g_old_int, g_old_term;
}  // namespace

InterruptGuard::InterruptGuard() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

void InterruptGuard::on_step_end(Trainer& t, const StepInfo&) {
  if (g_signal.load(std::memory_order_relaxed)) t.interrupt();
}

int InterruptGuard::signal() const { return g_signal.load(); }

RunLock::RunLock(const std::string& folder) {
  const std::string path = (std::filesystem::path(folder) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot write in run folder '{}': {}", folder, std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(
        fmt::format("run folder '{}' is in use by another gradflow process (train or --resume); wait for it to end",
                    folder));
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the empty .lock file stays
}

void remove_temporaries(const std::string& folder) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos)
      std::filesystem::remove(e.path(), ec);
  }
}

void check_free_space(const std::string& folder, double bytes) {
  std::error_code ec;
  const auto space = std::filesystem::space(folder, ec);
  if (!ec && static_cast<double>(space.available) < bytes)
    throw std::runtime_error(fmt::format("not enough space in '{}': the run's files need about {:.1f} MB, {:.1f} MB free",
                                         folder, bytes / 1e6, static_cast<double>(space.available) / 1e6));
}

double model_files_bytes(const std::string& folder) {
  double bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec))
    if (e.path().extension() == ".safetensors" && e.is_regular_file(ec)) bytes += static_cast<double>(e.file_size(ec));
  return bytes;
}

}  // namespace gradflow::app
